//! Operator calls for the operators themselves (`/admin/v1/operators…`): add, list, disable,
//! rotate. Admins only (the route table says so).

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use paycore_api::fields::rfc3339;
use paycore_api::operators::{CreateOperator, OperatorRoleName, OperatorToken, OperatorView};
use paycore_operators::{Operator, Role};

use crate::error::ApiResult;
use crate::extract::{ApiPath, JsonBody};
use crate::AppState;

pub fn role_name(r: Role) -> OperatorRoleName {
    match r {
        Role::Viewer => OperatorRoleName::Viewer,
        Role::Operator => OperatorRoleName::Operator,
        Role::Finance => OperatorRoleName::Finance,
        Role::Admin => OperatorRoleName::Admin,
    }
}

fn role(r: OperatorRoleName) -> Role {
    match r {
        OperatorRoleName::Viewer => Role::Viewer,
        OperatorRoleName::Operator => Role::Operator,
        OperatorRoleName::Finance => Role::Finance,
        OperatorRoleName::Admin => Role::Admin,
    }
}

fn view(o: Operator) -> OperatorView {
    OperatorView {
        operator_id: o.operator_id,
        name: o.name,
        role: role_name(o.role),
        status: paycore_kernel::state::Named::as_str(o.status).to_string(),
        expires_at: o.expires_at.map(rfc3339),
        created_at: rfc3339(o.created_at),
    }
}

fn actor(op: &Operator) -> String {
    format!("operator:{}", op.operator_id)
}

/// Add an operator; its token is in the answer, this once.
#[utoipa::path(post, path = "/admin/v1/operators", tag = "operators", request_body = CreateOperator,
    responses((status = 201, body = OperatorToken)), security(("operator" = [])))]
pub async fn create_operator(
    State(app): State<AppState>,
    Extension(me): Extension<Operator>,
    JsonBody(req): JsonBody<CreateOperator>,
) -> ApiResult<(StatusCode, Json<OperatorToken>)> {
    let (op, token) = app
        .operators
        .add(
            &req.name,
            role(req.role),
            req.expires_in_days,
            &actor(&me),
            app.clock.unix_millis(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(OperatorToken {
            operator_id: op.operator_id.clone(),
            token,
            operator: view(op),
        }),
    ))
}

/// Every operator, oldest first.
#[utoipa::path(get, path = "/admin/v1/operators", tag = "operators",
    responses((status = 200, body = [OperatorView])), security(("operator" = [])))]
pub async fn list_operators(State(app): State<AppState>) -> ApiResult<Json<Vec<OperatorView>>> {
    let list = app.operators.list().await?;
    Ok(Json(list.into_iter().map(view).collect()))
}

/// Disable an operator: its token stops working within seconds on every node.
#[utoipa::path(post, path = "/admin/v1/operators/{operator_id}/disable", tag = "operators",
    params(("operator_id" = String, Path)),
    responses((status = 200, body = OperatorView)), security(("operator" = [])))]
pub async fn disable_operator(
    State(app): State<AppState>,
    Extension(me): Extension<Operator>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OperatorView>> {
    let op = app
        .operators
        .disable(&id, &actor(&me), None, app.clock.unix_millis())
        .await?;
    Ok(Json(view(op)))
}

/// Give an active operator a new token (in the answer, this once); the old one stops working.
#[utoipa::path(post, path = "/admin/v1/operators/{operator_id}/rotate", tag = "operators",
    params(("operator_id" = String, Path)),
    responses((status = 200, body = OperatorToken)), security(("operator" = [])))]
pub async fn rotate_operator(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<OperatorToken>> {
    let token = app.operators.rotate(&id, app.clock.unix_millis()).await?;
    let op = app.operators.get(&id).await?;
    Ok(Json(OperatorToken {
        operator_id: op.operator_id.clone(),
        token,
        operator: view(op),
    }))
}
