//! Azure ML's datastore YAML (`az ml datastore create -f datastore.yml`): `type: azure_blob`
//! (`account_name`, `container_name`, `endpoint`, `protocol`, `credentials` with `account_key` or
//! `sas_token`), `type: azure_data_lake_gen2` (`account_name`, `filesystem`, `credentials` with
//! `tenant_id`, `client_id`, `client_secret`), and, for S3-compatible stores, `type: s3`
//! (`bucket`, `endpoint`, `region`, `credentials` with `access_key_id`, `secret_access_key`).
//!
//! Azure takes `endpoint` as a DNS suffix (`core.windows.net`); Sluice also takes a full URL
//! (`http://127.0.0.1:10000/devstoreaccount1` for Azurite, or a private endpoint).

use indexmap::IndexMap;

use crate::decode::{Ctx, MapReader};
use crate::diag::{SpecError, Warning};
use crate::parse::{check_name, load_tree, read_source};
use crate::source::{Source, Spanned};
use crate::yaml::Node;

/// A datastore definition. `Debug` shows neither its secrets nor its file's text.
#[derive(Clone)]
pub struct DatastoreSpec {
    pub source: Source,
    pub name: Spanned<String>,
    pub description: Option<String>,
    pub tags: IndexMap<String, String>,
    pub kind: DatastoreKind,
    pub credentials: DatastoreCredentials,
}

impl std::fmt::Debug for DatastoreSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatastoreSpec")
            .field("file", &self.source.name)
            .field("name", &self.name.value)
            .field("description", &self.description)
            .field("tags", &self.tags)
            .field("kind", &self.kind)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// Where a datastore's objects are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatastoreKind {
    AzureBlob {
        account_name: String,
        container_name: String,
        /// A DNS suffix or a full URL.
        endpoint: Option<String>,
        protocol: Option<String>,
    },
    AzureDataLakeGen2 {
        account_name: String,
        filesystem: String,
        endpoint: Option<String>,
        protocol: Option<String>,
    },
    S3 {
        bucket: String,
        endpoint: Option<String>,
        region: Option<String>,
    },
}

impl DatastoreKind {
    /// The `type:` this kind is written as.
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::AzureBlob { .. } => "azure_blob",
            Self::AzureDataLakeGen2 { .. } => "azure_data_lake_gen2",
            Self::S3 { .. } => "s3",
        }
    }
}

/// A datastore's secrets (each optional; which ones apply depends on the type). `Debug` never
/// shows them.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DatastoreCredentials {
    pub account_key: Option<String>,
    pub sas_token: Option<String>,
    pub tenant_id: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl DatastoreCredentials {
    /// Whether any secret is set.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The kind of credential, as `az ml datastore show` names it (`account_key`, `sas`,
    /// `service_principal`, `access_key`), or `none` (the environment's identity).
    #[must_use]
    pub fn kind(&self) -> &'static str {
        if self.account_key.is_some() {
            "account_key"
        } else if self.sas_token.is_some() {
            "sas"
        } else if self.client_secret.is_some() {
            "service_principal"
        } else if self.access_key_id.is_some() {
            "access_key"
        } else {
            "none"
        }
    }
}

impl std::fmt::Debug for DatastoreCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatastoreCredentials({})", self.kind())
    }
}

/// Reads and checks a datastore file, with `--set` overrides.
///
/// # Errors
/// A located error for anything Azure's schema refuses, or Sluice cannot use.
pub fn load_datastore(
    path: &std::path::Path,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<DatastoreSpec, SpecError> {
    parse_datastore(&read_source(path)?, overrides, warnings)
}

const TYPES: &[&str] = &["azure_blob", "azure_data_lake_gen2", "s3"];

/// Checks a datastore from its source text.
///
/// # Errors
/// As [`load_datastore`].
pub fn parse_datastore(
    source: &Source,
    overrides: &[(String, String)],
    warnings: &mut Vec<Warning>,
) -> Result<DatastoreSpec, SpecError> {
    let root = load_tree(source, overrides, warnings)?;
    let mut ctx = Ctx {
        source,
        warnings,
        assets: None,
    };
    let mut r = MapReader::new(&ctx, &root, "a datastore")?;
    let _ = r.get("$schema");
    let Some(name) = ctx.opt_string(r.get("name"), "name")? else {
        return Err(ctx
            .error(&root, "the datastore has no `name`")
            .with_help("add `name: my_blob_store`"));
    };
    check_name(&ctx, &name, "datastore name")?;
    let description = ctx
        .opt_string(r.get("description"), "description")?
        .map(|s| s.value);
    let tags = ctx.string_map(r.get("tags"), "tags")?;
    let Some(ty_node) = r.get("type").filter(|t| !t.is_null()) else {
        return Err(ctx
            .error(&root, "the datastore has no `type`")
            .with_help("add `type: azure_blob` (or `azure_data_lake_gen2`, `s3`)"));
    };
    let ty = ctx.string(ty_node, "type")?;
    let opt = |ctx: &Ctx<'_>, n: Option<&Node>, f: &str| -> Result<Option<String>, SpecError> {
        Ok(ctx.opt_string(n, f)?.map(|s| s.value))
    };
    let required =
        |ctx: &Ctx<'_>, n: Option<&Node>, f: &str, example: &str| match ctx.opt_string(n, f)? {
            Some(v) if !v.is_empty() => Ok(v.value),
            _ => Err(ctx
                .error(&root, format!("a `{}` datastore needs `{f}`", ty.value))
                .with_help(format!("add `{f}: {example}`"))),
        };
    // Both Azure types: the account, a container (`container_name` or `filesystem`), the
    // endpoint and the protocol.
    let mut azure = |container: &'static str, protocols: &[&str]| {
        Ok::<_, SpecError>((
            required(
                &ctx,
                r.get("account_name"),
                "account_name",
                "mystorageaccount",
            )?,
            required(&ctx, r.get(container), container, "data")?,
            opt(&ctx, r.get("endpoint"), "endpoint")?,
            protocol(&ctx, r.get("protocol"), protocols)?,
        ))
    };
    let kind = match ty.value.as_str() {
        "azure_blob" => {
            let (account_name, container_name, endpoint, protocol) =
                azure("container_name", &["https", "wasbs", "http"])?;
            DatastoreKind::AzureBlob {
                account_name,
                container_name,
                endpoint,
                protocol,
            }
        }
        "azure_data_lake_gen2" => {
            let (account_name, filesystem, endpoint, protocol) =
                azure("filesystem", &["https", "abfss", "http"])?;
            DatastoreKind::AzureDataLakeGen2 {
                account_name,
                filesystem,
                endpoint,
                protocol,
            }
        }
        "s3" => DatastoreKind::S3 {
            bucket: required(&ctx, r.get("bucket"), "bucket", "my-bucket")?,
            endpoint: opt(&ctx, r.get("endpoint"), "endpoint")?,
            region: opt(&ctx, r.get("region"), "region")?,
        },
        "azure_file" | "azure_data_lake_gen1" | "one_lake" => {
            return Err(ctx
                .error(
                    ty_node,
                    format!("`type: {}` datastores are not supported", ty.value),
                )
                .with_label("unsupported datastore type")
                .with_help("use `azure_blob`, `azure_data_lake_gen2` or `s3`"));
        }
        other => {
            let err = ctx
                .error(ty_node, format!("`{other}` is not a datastore type"))
                .with_label("unknown type");
            return Err(match crate::decode::suggest(other, TYPES) {
                Some(s) => err.with_help(format!("did you mean `{s}`?")),
                None => err.with_help("use `azure_blob`, `azure_data_lake_gen2` or `s3`"),
            });
        }
    };
    let credentials = credentials(&mut ctx, r.get("credentials"), &kind)?;
    r.ignore(
        &mut ctx,
        &["properties", "service_data_access_auth_identity"],
    );
    r.finish(&ctx)?;
    Ok(DatastoreSpec {
        source: source.clone(),
        name,
        description,
        tags,
        kind,
        credentials,
    })
}

fn protocol(
    ctx: &Ctx<'_>,
    node: Option<&Node>,
    allowed: &[&str],
) -> Result<Option<String>, SpecError> {
    let Some(p) = ctx.opt_string(node, "protocol")? else {
        return Ok(None);
    };
    if allowed.contains(&p.value.as_str()) {
        return Ok(Some(p.value));
    }
    Err(SpecError::new(
        ctx.source,
        p.span,
        format!("`{}` is not a protocol here", p.value),
    )
    .with_label("unknown protocol")
    .with_help(format!(
        "use one of {}",
        allowed
            .iter()
            .map(|a| format!("`{a}`"))
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

fn credentials(
    ctx: &mut Ctx<'_>,
    node: Option<&Node>,
    kind: &DatastoreKind,
) -> Result<DatastoreCredentials, SpecError> {
    let Some(node) = node.filter(|n| !n.is_null()) else {
        return Ok(DatastoreCredentials::default());
    };
    let mut r = MapReader::new(ctx, node, "the datastore's `credentials`")?;
    let mut c = DatastoreCredentials::default();
    let (keys, help): (&[&'static str], &str) = match kind {
        DatastoreKind::AzureBlob { .. } => (
            &["account_key", "sas_token"],
            "give `account_key` or `sas_token` (or leave `credentials` out to use the environment's identity)",
        ),
        DatastoreKind::AzureDataLakeGen2 { .. } => (
            &["tenant_id", "client_id", "client_secret"],
            "give `tenant_id`, `client_id` and `client_secret` (or leave `credentials` out)",
        ),
        DatastoreKind::S3 { .. } => (
            &["access_key_id", "secret_access_key"],
            "give `access_key_id` and `secret_access_key` (or leave `credentials` out to use the environment's)",
        ),
    };
    for key in keys {
        let v = ctx.opt_string(r.get(key), key)?.map(|s| s.value);
        let slot = match *key {
            "account_key" => &mut c.account_key,
            "sas_token" => &mut c.sas_token,
            "tenant_id" => &mut c.tenant_id,
            "client_id" => &mut c.client_id,
            "client_secret" => &mut c.client_secret,
            "access_key_id" => &mut c.access_key_id,
            _ => &mut c.secret_access_key,
        };
        *slot = v.filter(|v| !v.is_empty());
    }
    r.finish(ctx)?;
    let complete = match kind {
        DatastoreKind::AzureBlob { .. } => c.account_key.is_some() != c.sas_token.is_some(),
        DatastoreKind::AzureDataLakeGen2 { .. } => {
            c.tenant_id.is_some() && c.client_id.is_some() && c.client_secret.is_some()
        }
        DatastoreKind::S3 { .. } => c.access_key_id.is_some() && c.secret_access_key.is_some(),
    };
    if !complete {
        return Err(ctx
            .error(node, "these credentials are incomplete or ambiguous")
            .with_label("credentials")
            .with_help(help));
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DatastoreSpec, SpecError> {
        parse_datastore(&Source::new("datastore.yml", text), &[], &mut Vec::new())
    }

    #[test]
    fn azure_examples_parse() {
        let d = parse(
            "$schema: https://azuremlschemas.azureedge.net/latest/azureBlob.schema.json\n\
             name: blob-example\ntype: azure_blob\ndescription: Datastore pointing to a blob container.\n\
             account_name: mytestblobstore\ncontainer_name: data-container\n\
             credentials:\n  account_key: XXXxxx\n",
        )
        .unwrap();
        assert_eq!(d.name.value, "blob-example");
        assert_eq!(
            d.kind,
            DatastoreKind::AzureBlob {
                account_name: "mytestblobstore".into(),
                container_name: "data-container".into(),
                endpoint: None,
                protocol: None
            }
        );
        assert_eq!(d.credentials.kind(), "account_key");
        assert!(!format!("{d:?}").contains("XXXxxx"), "secrets never show");
        let sas = parse(
            "name: blob_sas\ntype: azure_blob\naccount_name: a\ncontainer_name: c\nprotocol: wasbs\n\
             credentials:\n  sas_token: ?sv=2021&sig=abc\n",
        )
        .unwrap();
        assert_eq!(sas.credentials.kind(), "sas");
        let credless =
            parse("name: b\ntype: azure_blob\naccount_name: a\ncontainer_name: c\n").unwrap();
        assert!(credless.credentials.is_empty());
        let s3 = parse(
            "name: s3store\ntype: s3\nbucket: artifacts\nendpoint: http://127.0.0.1:8333\n\
             credentials:\n  access_key_id: k\n  secret_access_key: s\n",
        )
        .unwrap();
        assert_eq!(s3.kind.type_name(), "s3");
    }

    #[test]
    fn mistakes_are_located() {
        for (text, want, line) in [
            (
                "name: b\ntype: azure_blobb\n",
                "did you mean `azure_blob`",
                2,
            ),
            ("name: b\ntype: azure_file\n", "not supported", 2),
            (
                "name: b\ntype: azure_blob\naccount_name: a\ncontainer_name: c\ncredentials:\n  account_key: k\n  sas_token: t\n",
                "account_key` or `sas_token",
                6,
            ),
            (
                "name: b\ntype: s3\nbucket: x\ncredentials:\n  access_key_id: k\n",
                "secret_access_key",
                5,
            ),
            (
                "name: b\ntype: azure_blob\ncontainer_name: c\n",
                "account_name",
                1,
            ),
            (
                "name: b\ntype: s3\nbucket: x\nendpont: y\n",
                "did you mean `endpoint`",
                4,
            ),
            (
                "name: b\ntype: azure_blob\naccount_name: a\ncontainer_name: c\nprotocol: ftp\n",
                "protocol",
                5,
            ),
        ] {
            let err = parse(text).unwrap_err();
            let shown = format!("{} {}", err.message, err.help.clone().unwrap_or_default());
            assert!(shown.contains(want), "{text}: {shown}");
            assert_eq!(err.span.line, line, "{text}: {shown}");
        }
    }
}
