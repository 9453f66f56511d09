//! Limited-memory BFGS with a backtracking (Armijo) line search, for smooth convex objectives.

pub(crate) struct Options {
    pub(crate) max_iter: usize,
    /// Stop when every gradient component is at most this in absolute value.
    pub(crate) gtol: f64,
    pub(crate) memory: usize,
}

pub(crate) struct Outcome {
    pub(crate) x: Vec<f64>,
    pub(crate) n_iter: usize,
    pub(crate) converged: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn max_abs(g: &[f64]) -> f64 {
    g.iter().fold(0.0, |m, x| m.max(x.abs()))
}

/// Minimises `f`, which returns the objective at `x` and writes its gradient into the slice.
#[expect(
    clippy::many_single_char_names,
    reason = "textbook notation: x, f, g, d, s, y"
)]
pub(crate) fn minimize<F>(mut f: F, x0: Vec<f64>, options: &Options) -> Outcome
where
    F: FnMut(&[f64], &mut [f64]) -> f64,
{
    let dim = x0.len();
    let mut x = x0;
    let mut g = vec![0.0; dim];
    let mut fx = f(&x, &mut g);
    let mut s_hist: Vec<Vec<f64>> = Vec::new();
    let mut y_hist: Vec<Vec<f64>> = Vec::new();
    let mut x_new = vec![0.0; dim];
    let mut g_new = vec![0.0; dim];
    if max_abs(&g) <= options.gtol {
        return Outcome {
            x,
            n_iter: 0,
            converged: true,
        };
    }
    for iter in 1..=options.max_iter {
        // Two-loop recursion: d = -H g.
        let mut d: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut alphas = vec![0.0; s_hist.len()];
        for i in (0..s_hist.len()).rev() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            alphas[i] = rho * dot(&s_hist[i], &d);
            for (dj, yj) in d.iter_mut().zip(&y_hist[i]) {
                *dj -= alphas[i] * yj;
            }
        }
        let mut step = 1.0;
        if let (Some(s), Some(y)) = (s_hist.last(), y_hist.last()) {
            let gamma = dot(s, y) / dot(y, y);
            for dj in &mut d {
                *dj *= gamma;
            }
        } else {
            step = 1.0 / dot(&g, &g).sqrt().max(1.0);
        }
        for i in 0..s_hist.len() {
            let rho = 1.0 / dot(&y_hist[i], &s_hist[i]);
            let beta = rho * dot(&y_hist[i], &d);
            for (dj, sj) in d.iter_mut().zip(&s_hist[i]) {
                *dj += (alphas[i] - beta) * sj;
            }
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            d = g.iter().map(|v| -v).collect();
            slope = -dot(&g, &g);
            step = 1.0 / (-slope).sqrt().max(1.0);
        }
        let mut accepted = false;
        let mut f_new = fx;
        for _ in 0..60 {
            for ((xn, xi), di) in x_new.iter_mut().zip(&x).zip(&d) {
                *xn = xi + step * di;
            }
            f_new = f(&x_new, &mut g_new);
            if f_new.is_finite() && f_new <= fx + 1e-4 * step * slope {
                accepted = true;
                break;
            }
            step *= 0.5;
        }
        if !accepted {
            return Outcome {
                converged: max_abs(&g) <= options.gtol,
                x,
                n_iter: iter,
            };
        }
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dot(&s, &y) > 1e-300 {
            if s_hist.len() == options.memory {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
        }
        let decrease = fx - f_new;
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        fx = f_new;
        if max_abs(&g) <= options.gtol {
            return Outcome {
                x,
                n_iter: iter,
                converged: true,
            };
        }
        if decrease <= f64::EPSILON * fx.abs().max(1.0) {
            // No further progress is representable.
            return Outcome {
                x,
                n_iter: iter,
                converged: true,
            };
        }
    }
    Outcome {
        x,
        n_iter: options.max_iter,
        converged: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_rosenbrock() {
        let out = minimize(
            |x, g| {
                let (a, b) = (x[0], x[1]);
                g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
                g[1] = 200.0 * (b - a * a);
                (1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2)
            },
            vec![-1.2, 1.0],
            &Options {
                max_iter: 500,
                gtol: 1e-9,
                memory: 10,
            },
        );
        assert!(out.converged);
        assert!((out.x[0] - 1.0).abs() < 1e-6 && (out.x[1] - 1.0).abs() < 1e-6);
    }
}
