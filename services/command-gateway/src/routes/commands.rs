//! `POST /v1/commands` and `GET /v1/commands/{id}`.

use std::time::Instant;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use kitchen_domain::catalog::{from_json_value, AnyCommand, CommandParseError};
use kitchen_domain::ports::{CommandQueue, QueueError};
use kitchen_domain::queue::{CommandRecord, Enqueued, NewCommand};
use kitchen_domain::{CommandId, CorrelationId};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::Authenticated;
use crate::problem::ApiError;
use crate::startup::AppState;

/// The request body. Unknown fields are refused so typos do not go unnoticed.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubmitCommand {
    /// The idempotency key; a new one is made when absent.
    #[serde(default)]
    id: Option<CommandId>,
    #[serde(rename = "type")]
    command_type: String,
    payload: Value,
    #[serde(default)]
    correlation_id: Option<CorrelationId>,
    #[serde(default)]
    metadata: Option<serde_json::Map<String, Value>>,
}

async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    if let Some(content_type) = req.headers().get(header::CONTENT_TYPE) {
        let json = content_type
            .to_str()
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .eq_ignore_ascii_case("application/json")
            })
            .unwrap_or(false);
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
    }
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::TooLarge { limit });
    }
    let mut body = Vec::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request("body_unreadable", None, e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Turns the body into a queueable command, naming the first bad field.
fn parse(body: &[u8], caller: &kitchen_adapters::auth::Caller) -> Result<NewCommand, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("invalid_json", None, format!("body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "invalid_body",
            None,
            "body must be a JSON object",
        ));
    }
    let request: SubmitCommand = from_json_value(&value).map_err(|e| {
        ApiError::bad_request(
            "invalid_body",
            Some(e.field.clone()),
            format!("`{}`: {}", e.field, e.reason),
        )
    })?;
    let command =
        AnyCommand::parse_client(&request.command_type, &request.payload).map_err(|e| match e {
            CommandParseError::UnknownType { .. } => {
                ApiError::bad_request("unknown_command_type", Some("type".into()), e.to_string())
            }
            CommandParseError::InvalidPayload(p) => {
                let field = if p.field.is_empty() {
                    "payload".to_string()
                } else {
                    format!("payload.{}", p.field)
                };
                ApiError::bad_request(
                    "invalid_payload",
                    Some(field.clone()),
                    format!("`{field}`: {}", p.reason),
                )
            }
        })?;
    Ok(NewCommand {
        id: request.id.unwrap_or_else(CommandId::new_random),
        tenant_id: caller.tenant,
        command_type: request.command_type,
        // Stored as the domain re-serialises it, so equal requests compare equal.
        payload: command.to_payload(),
        aggregate_id: command.stream(caller.tenant).aggregate_id,
        user_id: caller.subject.clone(),
        correlation_id: request
            .correlation_id
            .unwrap_or_else(CorrelationId::new_random),
        metadata: Value::Object(request.metadata.unwrap_or_default()),
    })
}

fn view(record: &CommandRecord) -> Value {
    json!({
        "commandId": record.id,
        "type": record.command_type,
        "status": record.status,
        "correlationId": record.correlation_id,
        "aggregateId": record.aggregate_id,
        "rejection": record.error,
        "eventSeqs": record.result_seqs,
        "workflowId": record.workflow_id,
        "attempts": record.attempts,
        "createdAt": record.created_at,
        "updatedAt": record.updated_at,
    })
}

#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant, command_id, correlation_id))]
pub(crate) async fn submit(
    Authenticated(caller): Authenticated,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let started = Instant::now();
    let result = submit_inner(&caller, &req, payload, &state).await;
    state.metrics.observe_latency(started.elapsed());
    match &result {
        Ok(_) => {}
        Err(e) => state.metrics.refused(e.code()),
    }
    result
}

async fn submit_inner(
    caller: &kitchen_adapters::auth::Caller,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(req, payload, state.max_body_bytes).await?;
    let command = parse(&body, caller)?;
    let span = tracing::Span::current();
    span.record("command_id", tracing::field::display(command.id));
    span.record(
        "correlation_id",
        tracing::field::display(command.correlation_id),
    );
    match state.queue.enqueue(command).await {
        Ok(Enqueued::Created(record)) => {
            state.metrics.accepted();
            tracing::info!(command_type = %record.command_type, "command accepted");
            Ok(HttpResponse::Accepted()
                .insert_header((header::LOCATION, format!("/v1/commands/{}", record.id)))
                .json(json!({
                    "commandId": record.id,
                    "status": record.status,
                    "correlationId": record.correlation_id,
                })))
        }
        Ok(Enqueued::Existing(record)) => {
            state.metrics.replayed();
            Ok(HttpResponse::Ok()
                .insert_header((header::LOCATION, format!("/v1/commands/{}", record.id)))
                .json(view(&record)))
        }
        Err(QueueError::IdempotencyConflict(id)) => Err(ApiError::IdempotencyConflict(id)),
        Err(QueueError::Unavailable(e)) => Err(ApiError::Unavailable(e)),
    }
}

#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant, command_id = %id))]
pub(crate) async fn status(
    Authenticated(caller): Authenticated,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let id: CommandId = id.parse().map_err(|e: kitchen_domain::IdError| {
        ApiError::bad_request("invalid_command_id", Some("id".into()), e.to_string())
    })?;
    match state.queue.get(caller.tenant, id).await {
        Ok(Some(record)) => Ok(HttpResponse::Ok().json(view(&record))),
        Ok(None) => Err(ApiError::NotFound(format!("command {id} not found"))),
        Err(QueueError::Unavailable(e)) => Err(ApiError::Unavailable(e)),
        Err(QueueError::IdempotencyConflict(_)) => unreachable!("get never conflicts"),
    }
}
