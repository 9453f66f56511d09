//! REST errors in one table: each [`ErrorCode`] has MLflow's `error_code` string and an HTTP
//! status. Handlers return [`ApiError`]; none builds error JSON by hand.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use sluice_store::{Entity, StoreError};

/// MLflow's error codes that Sluice returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    ResourceDoesNotExist,
    ResourceAlreadyExists,
    InvalidParameterValue,
    BadRequest,
    EndpointNotFound,
    PermissionDenied,
    Unauthenticated,
    /// The store's database cannot be reached now; the client may retry.
    TemporarilyUnavailable,
    /// A feature this server does not offer, said as MLflow says it (clients fall back).
    NotImplemented,
    InternalError,
}

impl ErrorCode {
    /// The table: MLflow's code and the HTTP status it travels with.
    #[must_use]
    pub fn parts(self) -> (&'static str, StatusCode) {
        match self {
            ErrorCode::ResourceDoesNotExist => ("RESOURCE_DOES_NOT_EXIST", StatusCode::NOT_FOUND),
            ErrorCode::ResourceAlreadyExists => {
                ("RESOURCE_ALREADY_EXISTS", StatusCode::BAD_REQUEST)
            }
            ErrorCode::InvalidParameterValue => {
                ("INVALID_PARAMETER_VALUE", StatusCode::BAD_REQUEST)
            }
            ErrorCode::BadRequest => ("BAD_REQUEST", StatusCode::BAD_REQUEST),
            ErrorCode::EndpointNotFound => ("ENDPOINT_NOT_FOUND", StatusCode::NOT_FOUND),
            ErrorCode::PermissionDenied => ("PERMISSION_DENIED", StatusCode::FORBIDDEN),
            ErrorCode::Unauthenticated => ("UNAUTHENTICATED", StatusCode::UNAUTHORIZED),
            ErrorCode::TemporarilyUnavailable => {
                ("TEMPORARILY_UNAVAILABLE", StatusCode::SERVICE_UNAVAILABLE)
            }
            ErrorCode::InternalError => ("INTERNAL_ERROR", StatusCode::INTERNAL_SERVER_ERROR),
            ErrorCode::NotImplemented => ("NOT_IMPLEMENTED", StatusCode::NOT_IMPLEMENTED),
        }
    }
}

/// An error answered in MLflow's shape: `{"error_code": "...", "message": "..."}`.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameterValue, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ResourceDoesNotExist, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code.parts();
        if status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED {
            tracing::error!(error = %self.message, "internal error");
        }
        let body = serde_json::json!({"error_code": code, "message": self.message});
        (status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, name } => ApiError::not_found(match what {
                Entity::Experiment => format!("No Experiment with id={name} exists"),
                Entity::Run => format!("Run with id={name} not found"),
                Entity::RunTag | Entity::ExperimentTag => format!("No tag with name: {name}"),
                Entity::RegisteredModel => format!("Registered Model with name={name} not found"),
                Entity::ModelVersion => format!("Model Version ({name}) not found"),
                Entity::LoggedModel => format!("Logged model with ID '{name}' not found."),
                Entity::Alias => format!("Registered model alias {name} not found."),
                Entity::Trace => format!("Trace with ID '{name}' not found."),
                Entity::TraceTag => name,
                Entity::Webhook => format!("Webhook with ID {name} not found."),
                other => format!("Could not find {other} '{name}'"),
            }),
            StoreError::AlreadyExists { what, name } => ApiError::new(
                ErrorCode::ResourceAlreadyExists,
                match what {
                    Entity::Experiment => format!("Experiment(name={name}) already exists."),
                    Entity::RegisteredModel => {
                        format!("Registered Model (name={name}) already exists.")
                    }
                    other => format!("{} '{name}' already exists.", capitalize(other.as_str())),
                },
            ),
            StoreError::Invalid(m) => ApiError::invalid(m),
            StoreError::Denied(m) => ApiError::new(ErrorCode::PermissionDenied, m),
            StoreError::Unauthenticated(m) => ApiError::new(ErrorCode::Unauthenticated, m),
            e @ StoreError::Unavailable(_) => {
                ApiError::new(ErrorCode::TemporarilyUnavailable, e.to_string())
            }
            other => ApiError::new(ErrorCode::InternalError, other.to_string()),
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

pub(crate) type ApiResult<T> = Result<T, ApiError>;
