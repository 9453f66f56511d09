//! What a fitted model knows about the data it was fitted on.

use serde::{Deserialize, Serialize};

use crate::{Dataset, MlError, Task};

/// The task, feature names and class labels of a fitted model; prediction data must have the same
/// features in the same order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    pub task: Task,
    pub feature_names: Vec<String>,
    /// Class labels in class-index order; empty for regression.
    pub classes: Vec<String>,
}

impl Default for Schema {
    fn default() -> Self {
        Schema {
            task: Task::Regression,
            feature_names: Vec::new(),
            classes: Vec::new(),
        }
    }
}

impl Schema {
    pub(crate) fn of(data: &Dataset, task: Task) -> Self {
        Schema {
            task,
            feature_names: data.feature_names().to_vec(),
            classes: data.classes().to_vec(),
        }
    }

    /// Refuses data whose feature names differ from the model's.
    pub(crate) fn check(&self, data: &Dataset) -> Result<(), MlError> {
        let got = data.feature_names();
        if got == self.feature_names.as_slice() {
            return Ok(());
        }
        if got.len() != self.feature_names.len() {
            return Err(MlError::Features(format!(
                "the model has {} features, the data has {}",
                self.feature_names.len(),
                got.len()
            )));
        }
        let (i, (want, have)) = self
            .feature_names
            .iter()
            .zip(got)
            .enumerate()
            .find(|(_, (a, b))| a != b)
            .unwrap_or((0, (&self.feature_names[0], &got[0])));
        Err(MlError::Features(format!(
            "feature {i} is `{have}` in the data but `{want}` in the model"
        )))
    }

    pub(crate) fn n_classes(&self) -> usize {
        self.classes.len()
    }

    /// Refuses a task and classes that disagree (a file's header can say anything).
    pub(crate) fn validate(&self) -> Result<(), String> {
        match (self.task, self.classes.len()) {
            (Task::Regression, 0) | (Task::Classification, 1..) => Ok(()),
            (Task::Regression, _) => Err("a regression model has no classes".to_owned()),
            (Task::Classification, 0) => Err("a classification model needs classes".to_owned()),
        }
    }
}
