//! One line for a failed DynamoDB request: the service's own error code
//! and message when it answered (ProvideErrorMetadata), else what stopped
//! the request (no connection, no answer in time). The SDK's own rendering
//! (`DisplayErrorContext`) is a page of debug output: headers, body,
//! extensions.

use std::error::Error as StdError;
use std::fmt::Debug;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};

use crate::parse::show_duration;

/// How long connecting may take, and one request (each try the SDK makes).
pub(super) const CONNECT_WITHIN: Duration = Duration::from_secs(3);
pub(super) const REQUEST_WITHIN: Duration = Duration::from_secs(10);

/// `DynamoDB PutItem: ValidationException: One or more parameter values
/// were invalid: …`, or `DynamoDB PutItem: no connection to the service:
/// Connection refused (os error 111)`.
pub(super) fn describe<E, R>(operation: &str, error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + StdError + 'static,
    R: Debug + 'static,
{
    let what = match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let said = match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(text), None) | (None, Some(text)) => text.to_string(),
                (None, None) => innermost(error),
            };
            match err.code() {
                Some("ValidationException") if said.contains("key") => {
                    format!("{said} (the table's partition key must be \"lock_key\", a string)")
                }
                _ => said,
            }
        }
        SdkError::TimeoutError(_) => format!(
            "the service did not answer (each request may take {}, and the SDK retries)",
            show_duration(REQUEST_WITHIN)
        ),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => format!(
            "could not connect to the service within {}",
            show_duration(CONNECT_WITHIN)
        ),
        SdkError::DispatchFailure(_) => format!("no connection to the service: {}", innermost(error)),
        SdkError::ResponseError(_) => format!("an answer that could not be read: {}", innermost(error)),
        _ => innermost(error),
    };
    format!("DynamoDB {operation}: {what}")
}

/// Whether the service answered the request, even with an error.
pub(super) fn answered<T, E, R>(result: &Result<T, SdkError<E, R>>) -> bool {
    matches!(
        result,
        Ok(_) | Err(SdkError::ServiceError(_) | SdkError::ResponseError(_))
    )
}

/// The deepest cause, which says what happened ("Connection refused (os
/// error 111)") where the outer ones only say where ("dispatch failure: io
/// error: client error (Connect): tcp connect error: …").
fn innermost(error: &(dyn StdError + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}
