//! Versioned assets and workspace resources: data assets, environments, components (each a
//! name with integer versions), computes and datastores.

use crate::db::{OptionalExtension, params};
use crate::{
    ComponentRow, ComputeRow, DataAssetRow, DatastoreRow, EnvironmentRow, Result, Store,
    StoreError, map_conflict,
};

impl Store {
    // ---- versioned assets -------------------------------------------------------------------

    /// The next free integer version of a data asset or environment (`table` is fixed by us).
    fn next_version(&self, table: &str, name: &str) -> Result<String> {
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT version FROM {table} WHERE name = ?1"))?;
        let max = stmt
            .query_map([name], |r| r.get::<_, String>(0))?
            .filter_map(|v| v.ok()?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        Ok((max + 1).to_string())
    }

    fn next_seq(&self, table: &str, name: &str) -> Result<i64> {
        Ok(self.conn.query_row(
            &format!("SELECT COALESCE(MAX(seq), 0) + 1 FROM {table} WHERE name = ?1"),
            [name],
            |r| r.get(0),
        )?)
    }

    /// One version of a versioned asset, or the latest (`version: None`); `table` and `columns`
    /// are fixed by us.
    fn get_version<T>(
        &self,
        table: &str,
        columns: &str,
        what: crate::Entity,
        name: &str,
        version: Option<&str>,
        from_row: fn(&crate::db::Row<'_>) -> crate::db::Result<T>,
    ) -> Result<T> {
        let sql = format!("SELECT {columns} FROM {table}");
        let found = match version {
            Some(v) => self
                .conn
                .query_row(
                    &format!("{sql} WHERE name = ?1 AND version = ?2"),
                    [name, v],
                    from_row,
                )
                .optional()?,
            None => self
                .conn
                .query_row(
                    &format!("{sql} WHERE name = ?1 ORDER BY seq DESC LIMIT 1"),
                    [name],
                    from_row,
                )
                .optional()?,
        };
        found.ok_or_else(|| StoreError::NotFound {
            what,
            name: version.map_or_else(|| format!("{name}@latest"), |v| format!("{name}:{v}")),
        })
    }

    /// Every version of `name` in order, or the latest version of each name.
    fn list_versions<T>(
        &self,
        table: &str,
        columns: &str,
        name: Option<&str>,
        from_row: fn(&crate::db::Row<'_>) -> crate::db::Result<T>,
    ) -> Result<Vec<T>> {
        let sql = format!("SELECT {columns} FROM {table} d");
        let rows = if let Some(name) = name {
            let mut stmt = self
                .conn
                .prepare(&format!("{sql} WHERE name = ?1 ORDER BY seq"))?;
            stmt.query_map([name], from_row)?
                .collect::<crate::db::Result<Vec<T>>>()?
        } else {
            let mut stmt = self.conn.prepare(&format!(
                "{sql} WHERE seq = (SELECT MAX(seq) FROM {table} e WHERE e.name = d.name) ORDER BY name"
            ))?;
            stmt.query_map((), from_row)?
                .collect::<crate::db::Result<Vec<T>>>()?
        };
        Ok(rows)
    }

    pub fn next_data_version(&self, name: &str) -> Result<String> {
        self.next_version("data_assets", name)
    }

    pub fn insert_data(&self, row: &DataAssetRow) -> Result<()> {
        let seq = self.next_seq("data_assets", &row.name)?;
        let res = self.conn.execute(
            "INSERT INTO data_assets (name, version, seq, type, path, source_path, description, tags,
                content_hash, size_bytes, file_count, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                row.name,
                row.version,
                seq,
                row.ty,
                row.path,
                row.source_path,
                row.description,
                serde_json::to_string(&row.tags)?,
                row.content_hash,
                row.size_bytes,
                row.file_count,
                row.created_at
            ],
        );
        map_conflict(res, crate::Entity::DataAsset, || {
            format!("{}:{}", row.name, row.version)
        })
    }

    /// A data asset version; `version` `None` means the latest.
    pub fn get_data(&self, name: &str, version: Option<&str>) -> Result<DataAssetRow> {
        self.get_version(
            "data_assets",
            DataAssetRow::COLUMNS,
            crate::Entity::DataAsset,
            name,
            version,
            DataAssetRow::from_row,
        )
    }

    /// Data assets: every version of `name`, or the latest version of each name.
    pub fn list_data(&self, name: Option<&str>) -> Result<Vec<DataAssetRow>> {
        self.list_versions(
            "data_assets",
            DataAssetRow::COLUMNS,
            name,
            DataAssetRow::from_row,
        )
    }

    pub fn next_environment_version(&self, name: &str) -> Result<String> {
        self.next_version("environments", name)
    }

    pub fn insert_environment(&self, row: &EnvironmentRow) -> Result<()> {
        let seq = self.next_seq("environments", &row.name)?;
        let res = self.conn.execute(
            "INSERT INTO environments (name, version, seq, description, image, conda_file, spec, spec_hash, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                row.name,
                row.version,
                seq,
                row.description,
                row.image,
                row.conda_file,
                serde_json::to_string(&row.spec)?,
                row.spec_hash,
                row.created_at
            ],
        );
        map_conflict(res, crate::Entity::Environment, || {
            format!("{}:{}", row.name, row.version)
        })
    }

    pub fn get_environment(&self, name: &str, version: Option<&str>) -> Result<EnvironmentRow> {
        self.get_version(
            "environments",
            EnvironmentRow::COLUMNS,
            crate::Entity::Environment,
            name,
            version,
            EnvironmentRow::from_row,
        )
    }

    pub fn list_environments(&self, name: Option<&str>) -> Result<Vec<EnvironmentRow>> {
        self.list_versions(
            "environments",
            EnvironmentRow::COLUMNS,
            name,
            EnvironmentRow::from_row,
        )
    }

    // ---- computes ---------------------------------------------------------------------------

    /// Creates or updates a compute target (as `az ml compute create` does).
    pub fn upsert_compute(&self, row: &ComputeRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO computes (name, type, max_instances, description, created_at, min_instances, size, tier, idle_time_before_scale_down, settings)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT (name) DO UPDATE SET type = excluded.type, max_instances = excluded.max_instances,
                description = excluded.description, min_instances = excluded.min_instances,
                size = excluded.size, tier = excluded.tier,
                idle_time_before_scale_down = excluded.idle_time_before_scale_down,
                settings = excluded.settings",
            params![
                row.name,
                row.ty,
                row.max_instances,
                row.description,
                row.created_at,
                row.min_instances,
                row.size,
                row.tier,
                row.idle_time_before_scale_down,
                row.settings.as_ref().map(serde_json::Value::to_string)
            ],
        )?;
        Ok(())
    }

    /// Removes a compute target; whether there was one. Jobs that ran on it keep its name.
    pub fn delete_compute(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM computes WHERE name = ?1", [name])?
            > 0)
    }

    pub fn get_compute(&self, name: &str) -> Result<Option<ComputeRow>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {} FROM computes WHERE name = ?1",
                    ComputeRow::COLUMNS
                ),
                [name],
                ComputeRow::from_row,
            )
            .optional()?)
    }

    pub fn list_computes(&self) -> Result<Vec<ComputeRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM computes ORDER BY name",
            ComputeRow::COLUMNS
        ))?;
        let rows = stmt.query_map((), ComputeRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- datastores -------------------------------------------------------------------------

    /// Creates or updates a datastore (as `az ml datastore create` does); whether it changed.
    pub fn upsert_datastore(&self, row: &DatastoreRow) -> Result<bool> {
        if let Some(old) = self.get_datastore(&row.name)?
            && old.ty == row.ty
            && old.settings == row.settings
            && old.credential == row.credential
            && old.description == row.description
            && old.tags == row.tags
        {
            return Ok(false);
        }
        self.conn.execute(
            "INSERT INTO datastores (name, type, settings, credential, description, tags, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
             ON CONFLICT (name) DO UPDATE SET type = excluded.type, settings = excluded.settings,
                credential = excluded.credential, description = excluded.description,
                tags = excluded.tags, updated_at = excluded.updated_at",
            params![
                row.name,
                row.ty,
                row.settings.to_string(),
                row.credential,
                row.description,
                serde_json::to_string(&row.tags).unwrap_or_else(|_| "{}".into()),
                row.updated_at,
            ],
        )?;
        Ok(true)
    }

    /// Removes a datastore (and the credential stored with it); whether there was one. Data
    /// assets registered from it keep their `azureml://datastores/...` paths.
    pub fn delete_datastore(&self, name: &str) -> Result<bool> {
        Ok(self
            .conn
            .execute("DELETE FROM datastores WHERE name = ?1", [name])?
            > 0)
    }

    pub fn get_datastore(&self, name: &str) -> Result<Option<DatastoreRow>> {
        Ok(self
            .conn
            .query_row(
                &format!(
                    "SELECT {} FROM datastores WHERE name = ?1",
                    DatastoreRow::COLUMNS
                ),
                [name],
                DatastoreRow::from_row,
            )
            .optional()?)
    }

    pub fn list_datastores(&self) -> Result<Vec<DatastoreRow>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {} FROM datastores ORDER BY name",
            DatastoreRow::COLUMNS
        ))?;
        let rows = stmt.query_map((), DatastoreRow::from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    // ---- components -------------------------------------------------------------------------

    /// The next free integer version of a component.
    pub fn next_component_version(&self, name: &str) -> Result<String> {
        self.next_version("components", name)
    }

    /// Records a registered component version (its files are already stored).
    pub fn insert_component(&self, row: &ComponentRow) -> Result<()> {
        let seq = self.next_seq("components", &row.name)?;
        let res = self.conn.execute(
            "INSERT INTO components (name, version, seq, type, display_name, description, yaml_path, source_path, spec, content_hash, created_by, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                row.name,
                row.version,
                seq,
                row.ty,
                row.display_name,
                row.description,
                row.yaml_path,
                row.source_path,
                row.spec.to_string(),
                row.content_hash,
                row.created_by,
                row.created_at
            ],
        );
        map_conflict(res, crate::Entity::Component, || {
            format!("{}:{}", row.name, row.version)
        })
    }

    /// A component version, or the latest (`version: None`).
    pub fn get_component(&self, name: &str, version: Option<&str>) -> Result<ComponentRow> {
        self.get_version(
            "components",
            ComponentRow::COLUMNS,
            crate::Entity::Component,
            name,
            version,
            ComponentRow::from_row,
        )
    }

    /// The latest version of each component, or every version of `name`.
    pub fn list_components(&self, name: Option<&str>) -> Result<Vec<ComponentRow>> {
        self.list_versions(
            "components",
            ComponentRow::COLUMNS,
            name,
            ComponentRow::from_row,
        )
    }
}
