//! Asset references: `azureml:name@latest`, `azureml:name:3`, `sluice:name:3`,
//! `azureml://datastores/NAME/paths/PATH`, and assets of a shared registry,
//! `azureml://registries/REGISTRY/KIND/NAME/versions/N` or `.../labels/latest`.

/// Which version of a named asset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSel {
    Latest,
    Exact(String),
}

impl std::fmt::Display for VersionSel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VersionSel::Latest => f.write_str("@latest"),
            VersionSel::Exact(v) => write!(f, ":{v}"),
        }
    }
}

/// A reference to something registered in the workspace or stored in a datastore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetRef {
    Named {
        name: String,
        version: VersionSel,
    },
    Datastore {
        datastore: String,
        path: String,
    },
    /// An asset of a shared registry: `kind` is `environments`, `components`, `models` or `data`.
    Registry {
        registry: String,
        kind: String,
        name: String,
        version: VersionSel,
    },
}

/// `None` when `text` is not an asset reference at all (a plain path);
/// `Some(Err)` when it starts like one but is malformed.
#[must_use]
pub fn parse_asset_ref(text: &str) -> Option<Result<AssetRef, String>> {
    let t = text.trim();
    if let Some(rest) = t.strip_prefix("azureml://") {
        return Some(parse_uri(rest, t));
    }
    let body = t
        .strip_prefix("azureml:")
        .or_else(|| t.strip_prefix("sluice:"))?;
    Some(parse_named(body, t))
}

/// An environment reference: as [`parse_asset_ref`], and a name without a version
/// (`azureml:AzureML-sklearn-1.5`) is its latest version, as Azure's schema allows for
/// environments (`allow_default_version`), not for data.
#[must_use]
pub fn parse_environment_ref(text: &str) -> Option<Result<AssetRef, String>> {
    match parse_asset_ref(text) {
        Some(Err(m)) => {
            let t = text.trim();
            let Some(body) = t
                .strip_prefix("azureml:")
                .or_else(|| t.strip_prefix("sluice:"))
            else {
                return Some(Err(m));
            };
            if body.contains(['@', ':', '/']) {
                return Some(Err(m));
            }
            Some(
                parse_named(&format!("{body}@latest"), t)
                    .map_err(|_| format!("`{t}` has an invalid environment name")),
            )
        }
        other => other,
    }
}

fn parse_uri(rest: &str, whole: &str) -> Result<AssetRef, String> {
    let parts: Vec<&str> = rest.splitn(4, '/').collect();
    match parts.as_slice() {
        ["datastores", ds, "paths", path] if !ds.is_empty() => Ok(AssetRef::Datastore {
            datastore: (*ds).to_owned(),
            path: path.trim_end_matches('/').to_owned(),
        }),
        ["registries", registry, kind, rest] if !registry.is_empty() => {
            let bits: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
            let version = match bits.as_slice() {
                [_, "labels", "latest"] | [_] => VersionSel::Latest,
                [_, "versions", v] if !v.is_empty() => VersionSel::Exact((*v).to_owned()),
                [_, "labels", other] => {
                    return Err(format!(
                        "`{whole}` uses the label `{other}`; only `labels/latest` is supported"
                    ));
                }
                _ => {
                    return Err(format!(
                        "`{whole}` is not a registry asset URI; expected `azureml://registries/{registry}/{kind}/NAME/versions/N` or `.../NAME/labels/latest`"
                    ));
                }
            };
            if !["environments", "components", "models", "data"].contains(kind) {
                return Err(format!(
                    "`{whole}` names `{kind}` in a registry; expected `environments`, `components`, `models` or `data`"
                ));
            }
            Ok(AssetRef::Registry {
                registry: (*registry).to_owned(),
                kind: (*kind).to_owned(),
                name: bits[0].to_owned(),
                version,
            })
        }
        _ => Err(format!(
            "`{whole}` is not a datastore URI; expected `azureml://datastores/NAME/paths/PATH`"
        )),
    }
}

fn parse_named(body: &str, whole: &str) -> Result<AssetRef, String> {
    let valid_name = |n: &str| {
        !n.is_empty()
            && n.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if let Some((name, label)) = body.split_once('@') {
        if label != "latest" {
            return Err(format!(
                "`{whole}` uses the label `@{label}`; only `@latest` is supported"
            ));
        }
        if !valid_name(name) {
            return Err(format!("`{whole}` has an invalid asset name"));
        }
        return Ok(AssetRef::Named {
            name: name.to_owned(),
            version: VersionSel::Latest,
        });
    }
    if let Some((name, version)) = body.split_once(':') {
        if !valid_name(name) || version.is_empty() {
            return Err(format!("`{whole}` has an invalid asset name or version"));
        }
        return Ok(AssetRef::Named {
            name: name.to_owned(),
            version: VersionSel::Exact(version.to_owned()),
        });
    }
    Err(format!(
        "`{whole}` names no version; write `{whole}@latest` or `{whole}:VERSION`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_references() {
        assert_eq!(
            parse_asset_ref("azureml:taxi@latest"),
            Some(Ok(AssetRef::Named {
                name: "taxi".into(),
                version: VersionSel::Latest
            }))
        );
        assert_eq!(
            parse_asset_ref("sluice:taxi:3"),
            Some(Ok(AssetRef::Named {
                name: "taxi".into(),
                version: VersionSel::Exact("3".into())
            }))
        );
        assert_eq!(
            parse_asset_ref("azureml://datastores/blob/paths/a/b/"),
            Some(Ok(AssetRef::Datastore {
                datastore: "blob".into(),
                path: "a/b".into()
            }))
        );
        assert_eq!(
            parse_asset_ref("azureml://registries/azureml/environments/sklearn-1.5/labels/latest"),
            Some(Ok(AssetRef::Registry {
                registry: "azureml".into(),
                kind: "environments".into(),
                name: "sklearn-1.5".into(),
                version: VersionSel::Latest
            }))
        );
        assert_eq!(
            parse_asset_ref("azureml://registries/azureml/components/train/versions/2"),
            Some(Ok(AssetRef::Registry {
                registry: "azureml".into(),
                kind: "components".into(),
                name: "train".into(),
                version: VersionSel::Exact("2".into())
            }))
        );
        assert!(matches!(
            parse_asset_ref("azureml://registries/azureml/environments/x/labels/stable"),
            Some(Err(_))
        ));
        assert!(parse_asset_ref("./data").is_none());
        assert!(matches!(parse_asset_ref("azureml:taxi"), Some(Err(_))));
        // An environment's name alone is its latest version; a malformed one still is not.
        assert_eq!(
            parse_environment_ref("azureml:AzureML-sklearn-1.5"),
            Some(Ok(AssetRef::Named {
                name: "AzureML-sklearn-1.5".into(),
                version: VersionSel::Latest
            }))
        );
        assert!(matches!(
            parse_environment_ref("azureml:bad name"),
            Some(Err(_))
        ));
        assert!(matches!(
            parse_environment_ref("azureml:env@stable"),
            Some(Err(_))
        ));
    }
}
