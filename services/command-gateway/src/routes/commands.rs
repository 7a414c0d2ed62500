//! `POST /v1/commands` and `GET /v1/commands/{id}`.

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use kitchen_adapters::edge::Query;
use kitchen_domain::catalog::{from_json_value, AnyCommand, CommandParseError};
use kitchen_domain::ports::{CommandQueue, QueueError};
use kitchen_domain::queue::{CommandRecord, Enqueued, NewCommand};
use kitchen_domain::{CommandId, CorrelationId};
use kitchen_wire::{CommandAccepted, CommandView, CommandsPage, SubmitCommand};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use crate::auth::Authenticated;
use crate::startup::AppState;
use kitchen_adapters::edge::ApiError;

pub(crate) async fn read_body(
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
    // Roles are enforced before anything is written.
    let role = kitchen_domain::Role::from_claim(caller.role.as_deref());
    let required = command.required_role();
    if !role.includes(required) {
        return Err(ApiError::forbidden(format!(
            "role `{role}` may not send `{}` (needs `{required}`)",
            request.command_type
        )));
    }
    let id = match request.id {
        Some(id) => CommandId::from_uuid(id).map_err(|e| {
            ApiError::bad_request("invalid_body", Some("id".into()), format!("`id`: {e}"))
        })?,
        None => CommandId::new_random(),
    };
    let correlation_id = match request.correlation_id {
        Some(id) => CorrelationId::from_uuid(id).map_err(|e| {
            ApiError::bad_request(
                "invalid_body",
                Some("correlationId".into()),
                format!("`correlationId`: {e}"),
            )
        })?,
        None => CorrelationId::new_random(),
    };
    Ok(NewCommand {
        id,
        tenant_id: caller.tenant,
        command_type: request.command_type,
        // Stored as the domain re-serialises it, so equal requests compare equal.
        payload: command.to_payload(),
        aggregate_id: command.stream(caller.tenant).aggregate_id,
        user_id: caller.subject.clone(),
        correlation_id,
        metadata: Value::Object(request.metadata.unwrap_or_default()),
    })
}

fn view(record: &CommandRecord) -> CommandView {
    CommandView::from(record)
}

/// Queues a command for the caller's tenant (the tenant comes from the token only).
#[utoipa::path(post, path = "/v1/commands", tag = "commands", security(("bearer" = [])),
    request_body = SubmitCommand,
    responses(
        (status = 202, description = "queued; `Location` is the command's URL", body = CommandAccepted,
         headers(("Location" = String, description = "/v1/commands/{commandId}"))),
        (status = 200, description = "the same id and body again: the stored command", body = CommandView),
        (status = 400, description = "bad JSON, unknown field or type, invalid payload; `field` names it", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable; see `WWW-Authenticate`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the token's tenant does not exist or is not active (`tenant_not_active`), or the token's role may not send this type (`forbidden`; nothing is written)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 409, description = "the id is taken by another body (`idempotency_conflict`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 413, description = "body larger than `gateway.max_body_bytes`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 415, description = "`Content-Type` is not JSON", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 429, description = "a tenant quota is used up, nothing written; `Retry-After`: commands per second (`tenant_rate_limited`) or commands not yet final (`tenant_backlog_full`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "the platform is overloaded (`overloaded`, nothing written), or the database or signing keys are unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
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
    if let Err(e) = &result {
        state.metrics.refused(e.code());
        if let ApiError::QuotaExceeded {
            retry_after_secs, ..
        } = e
        {
            // A tenant past its own quota waits for its answer, so one that
            // posts again at once costs a refusal per hold, not thousands.
            if state
                .refusal_delay
                .hold(Duration::from_secs(*retry_after_secs))
                .await
            {
                state.metrics.refusal_held();
            }
        }
    }
    result
}

async fn submit_inner(
    caller: &kitchen_adapters::auth::Caller,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, ApiError> {
    // Before the body is read: a refused command costs no parsing and no row.
    admit(caller, state)?;
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
                .json(CommandAccepted {
                    command_id: record.id.as_uuid(),
                    status: record.status,
                    correlation_id: record.correlation_id.as_uuid(),
                }))
        }
        Ok(Enqueued::Existing(record)) => {
            state.metrics.replayed();
            Ok(HttpResponse::Ok()
                .insert_header((header::LOCATION, format!("/v1/commands/{}", record.id)))
                .json(view(&record)))
        }
        Err(QueueError::IdempotencyConflict(id)) => Err(ApiError::Conflict {
            code: "idempotency_conflict",
            detail: format!("command {id} already exists with a different type or payload"),
        }),
        Err(QueueError::BacklogFull { limit }) => Err(ApiError::QuotaExceeded {
            code: "tenant_backlog_full",
            retry_after_secs: 1,
            detail: format!(
                "the tenant already has {limit} commands not yet final; nothing was written, retry once some have finished"
            ),
        }),
        Err(QueueError::Unavailable(e)) => Err(ApiError::Unavailable(e)),
    }
}

/// The platform's load, then the tenant's rate (a shed command takes no
/// token from the tenant's bucket).
fn admit(caller: &kitchen_adapters::auth::Caller, state: &AppState) -> Result<(), ApiError> {
    if let Err((shed, error)) = state.load.admit() {
        state.metrics.shed(shed);
        return Err(error);
    }
    state.command_rate.check(caller.tenant).map_err(|wait| {
        let retry_after_secs = crate::admission::rate::retry_after_secs(wait);
        ApiError::QuotaExceeded {
            code: "tenant_rate_limited",
            retry_after_secs,
            detail: format!(
                "the tenant sends commands faster than its quota allows; retry in {retry_after_secs} s"
            ),
        }
    })
}

/// One command of the caller's tenant and what became of it.
#[utoipa::path(get, path = "/v1/commands/{id}", tag = "commands", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "the command id")),
    responses(
        (status = 200, description = "the command", body = CommandView),
        (status = 400, description = "`id` is not a command id", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the token's tenant does not exist or is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 404, description = "no such command in this tenant", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
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
        Err(QueueError::IdempotencyConflict(_) | QueueError::BacklogFull { .. }) => {
            unreachable!("get never conflicts")
        }
    }
}

/// `GET /v1/commands` parameters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
pub(crate) struct CorrelationQuery {
    /// The correlation id to follow (required).
    correlation_id: Option<Uuid>,
    /// The last command id of the previous page (its `nextAfter`).
    after: Option<Uuid>,
    /// Page size, 1 to 1000 (default 100).
    limit: Option<u32>,
}

/// Largest page of `GET /v1/commands`.
const MAX_COMMANDS_PAGE: u32 = 1000;

fn id_param<T>(
    name: &'static str,
    raw: Uuid,
    parse: impl Fn(Uuid) -> Result<T, kitchen_domain::IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|e| ApiError::bad_request("invalid_query", Some(name.into()), e.to_string()))
}

/// Every command of one correlation in the caller's tenant, oldest first, with
/// status and event seqs: follow one user action through the platform.
#[utoipa::path(get, path = "/v1/commands", tag = "commands", security(("bearer" = [])),
    params(CorrelationQuery),
    responses(
        (status = 200, description = "a page of commands", body = CommandsPage),
        (status = 400, description = "`correlationId` missing or a parameter invalid", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 401, description = "token missing or not acceptable", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 403, description = "the token's tenant does not exist or is not active (`tenant_not_active`)", body = kitchen_wire::Problem, content_type = "application/problem+json"),
        (status = 503, description = "database unavailable; `Retry-After`", body = kitchen_wire::Problem, content_type = "application/problem+json"),
    ))]
#[tracing::instrument(skip_all, fields(tenant_id = %caller.tenant, correlation_id))]
pub(crate) async fn by_correlation(
    Authenticated(caller): Authenticated,
    Query(query): Query<CorrelationQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let raw = query.correlation_id.ok_or_else(|| {
        ApiError::bad_request(
            "invalid_query",
            Some("correlationId".into()),
            "`correlationId` is required",
        )
    })?;
    let correlation = id_param("correlationId", raw, CorrelationId::from_uuid)?;
    tracing::Span::current().record("correlation_id", tracing::field::display(correlation));
    let after = query
        .after
        .map(|raw| id_param("after", raw, CommandId::from_uuid))
        .transpose()?;
    let limit = query.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_COMMANDS_PAGE {
        return Err(ApiError::bad_request(
            "invalid_query",
            Some("limit".into()),
            format!("`limit` must be between 1 and {MAX_COMMANDS_PAGE}"),
        ));
    }
    let records = state
        .queue
        .by_correlation(caller.tenant, correlation, after, limit)
        .await
        .map_err(|e| match e {
            QueueError::Unavailable(e) => ApiError::Unavailable(e),
            QueueError::IdempotencyConflict(_) | QueueError::BacklogFull { .. } => {
                unreachable!("a read never conflicts")
            }
        })?;
    let next_after = (records.len() == limit as usize)
        .then(|| records.last().map(|r| r.id.as_uuid()))
        .flatten();
    Ok(HttpResponse::Ok().json(CommandsPage {
        commands: records.iter().map(CommandView::from).collect(),
        next_after,
    }))
}

/// The fuzz target's entry (`fuzz/`) to the parsing of `POST /v1/commands`
/// bodies: every command type, through the domain catalog, for each role.
/// Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use actix_web::ResponseError;
    use kitchen_adapters::auth::Caller;
    use kitchen_adapters::edge::ApiError;
    use kitchen_domain::catalog::AnyCommand;
    use kitchen_domain::queue::NewCommand;
    use kitchen_domain::TenantId;

    /// Parses `data` as a command body; the first byte picks the caller's
    /// role (admin, member, none, an unknown one). Whatever the input, the
    /// answer is a command of the caller's tenant whose stored payload parses
    /// back to itself, or a 400/403 problem with a reason.
    pub fn command_body(data: &[u8]) -> Result<NewCommand, ApiError> {
        let (role, body) = match data.split_first() {
            Some((first, rest)) => (
                [Some("admin"), Some("member"), None, Some("chef")][usize::from(*first % 4)],
                rest,
            ),
            None => (None, data),
        };
        let caller = Caller {
            tenant: TenantId::new_random(),
            subject: Some("fuzz".into()),
            role: role.map(str::to_owned),
            expires_at: chrono::Utc::now(),
        };
        let result = super::parse(body, &caller);
        match &result {
            Ok(command) => {
                assert_eq!(
                    command.tenant_id, caller.tenant,
                    "the tenant is the token's"
                );
                let again = AnyCommand::parse_client(&command.command_type, &command.payload)
                    .expect("a stored payload parses again");
                assert_eq!(
                    again.to_payload(),
                    command.payload,
                    "stored payloads are stable"
                );
            }
            Err(e) => {
                let status = e.status_code().as_u16();
                assert!(status == 400 || status == 403, "{status} for a body: {e}");
                assert!(!e.problem().detail.is_empty(), "a reason is given");
            }
        }
        result
    }

    #[cfg(test)]
    mod tests {
        use std::collections::BTreeSet;

        /// The fuzz target's corpus, replayed as a test: every body answered,
        /// the well-formed ones accepted, the rest refused with a typed code.
        #[test]
        fn the_command_body_corpus_replays_with_typed_refusals() {
            let (mut accepted, mut codes) = (0, BTreeSet::new());
            for (path, data) in kitchen_adapters::fuzzing::corpus("command_body") {
                // Shown only if the replay fails: which input did it.
                eprintln!("replaying {}", path.display());
                match super::command_body(&data) {
                    Ok(_) => accepted += 1,
                    Err(e) => {
                        codes.insert(e.code());
                    }
                }
            }
            assert!(accepted >= 5, "{accepted} bodies accepted");
            let known: BTreeSet<_> = [
                "invalid_json",
                "invalid_body",
                "unknown_command_type",
                "invalid_payload",
                "forbidden",
            ]
            .into();
            assert!(codes.is_subset(&known), "{codes:?}");
            assert!(codes.len() >= 4, "{codes:?}");
        }
    }
}
