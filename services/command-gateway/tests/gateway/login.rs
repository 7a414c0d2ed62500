//! Login, refresh, logout and roles against the real PostgreSQL: the right
//! password gives a working token; a wrong password and an unknown email get
//! the same 401 through the same work (the dummy-hash counter says which path
//! ran); the 6th failure in the window is 429; a reused refresh token revokes
//! its family; a member may order but not change the menu.

use kitchen_adapters::auth::password::{PasswordCost, Passwords};
use kitchen_adapters::config::{DbRole, Settings};
use kitchen_domain::TenantId;
use kitchen_test_support::TestDb;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

const CHEAP: PasswordCost = PasswordCost {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

struct App {
    db: TestDb,
    base: String,
    http: reqwest::Client,
}

impl App {
    async fn spawn(adjust: impl FnOnce(&mut Settings)) -> App {
        let db = TestDb::new().await.unwrap();
        let mut settings = db.platform_settings();
        settings.login.argon2_memory_kib = CHEAP.memory_kib;
        settings.login.argon2_iterations = CHEAP.iterations;
        settings.login.argon2_parallelism = CHEAP.parallelism;
        adjust(&mut settings);
        let base = crate::start_gateway(&settings);
        App {
            db,
            base,
            http: reqwest::Client::new(),
        }
    }

    /// A user of `tenant` with `password`, inserted as the owner.
    async fn user(&self, tenant: TenantId, email: &str, role: &str, password: &str) -> Uuid {
        let id = Uuid::new_v4();
        let hash = Passwords::new(CHEAP).unwrap().hash(password).unwrap();
        let sql = format!(
            "INSERT INTO users (tenant_id, id, email, display_name, password_hash, role)
             VALUES ('{tenant}', '{id}', '{email}', 'Sam', '{hash}', '{role}')"
        );
        assert_eq!(self.db.execute_as(DbRole::Owner, tenant, &sql).await, 1);
        id
    }

    async fn post(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        (
            status,
            response.json().await.unwrap_or(Value::Null),
            headers,
        )
    }

    async fn login(
        &self,
        tenant: TenantId,
        email: &str,
        password: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        self.post(
            "/v1/auth/token",
            &json!({"tenantId": tenant, "email": email, "password": password}),
            None,
        )
        .await
    }

    async fn metric(&self, series: &str) -> f64 {
        let scrape = self.http.get(format!("{}/metrics", self.base)).send();
        let text = scrape.await.unwrap().text().await.unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or(0.0)
    }
}

fn create_order() -> Value {
    json!({"type": "createOrder", "payload": {"orderId": Uuid::new_v4(), "userId": "me",
           "items": [{"menuItemId": "soup", "quantity": 1}]}})
}

#[tokio::test]
async fn the_right_password_logs_in_and_wrong_ones_get_the_same_401_then_429() {
    let app = App::spawn(|_| {}).await;
    let tenant = app.db.active_tenant().await;
    let sam = app
        .user(tenant, "sam@example.com", "admin", "correct horse")
        .await;

    let (status, tokens, headers) = app.login(tenant, "SAM@example.com", "correct horse").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(tokens["tokenType"], "Bearer");
    assert_eq!(tokens["expiresIn"], 900);
    let access = tokens["accessToken"].as_str().unwrap();
    let (status, reply, _) = app
        .post("/v1/commands", &create_order(), Some(access))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{reply}");
    let command: Value = app
        .http
        .get(format!(
            "{}/v1/commands/{}",
            app.base,
            reply["commandId"].as_str().unwrap()
        ))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(command["status"], "pending");
    assert_eq!(
        app.metric("kitchen_login_dummy_verifications_total").await,
        0.0
    );

    // A wrong password: argon2 against the user's hash.
    let (wrong, wrong_body, wrong_headers) = app.login(tenant, "sam@example.com", "wrong").await;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.metric("kitchen_login_dummy_verifications_total").await,
        0.0
    );
    // An unknown email and a household that does not exist: the dummy hash.
    let (unknown, unknown_body, unknown_headers) =
        app.login(tenant, "nobody@example.com", "wrong").await;
    assert_eq!(
        app.metric("kitchen_login_dummy_verifications_total").await,
        1.0
    );
    let (no_tenant, no_tenant_body, _) = app
        .login(TenantId::new_random(), "sam@example.com", "correct horse")
        .await;
    assert_eq!(
        app.metric("kitchen_login_dummy_verifications_total").await,
        2.0
    );
    assert_eq!(unknown, StatusCode::UNAUTHORIZED);
    assert_eq!(no_tenant, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong_body, unknown_body, "the same body");
    assert_eq!(wrong_body, no_tenant_body);
    assert_eq!(wrong_body["code"], "invalid_credentials");
    assert_eq!(
        wrong_headers["www-authenticate"],
        unknown_headers["www-authenticate"]
    );

    // Four more failures for sam make five in the window; the 6th is 429.
    for _ in 0..4 {
        assert_eq!(
            app.login(tenant, "sam@example.com", "wrong").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    let (status, problem, headers) = app.login(tenant, "sam@example.com", "correct horse").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{problem}");
    assert_eq!(problem["code"], "too_many_requests");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(
        app.metric("kitchen_logins_total{outcome=\"throttled\"}")
            .await,
        1.0
    );
    assert_eq!(
        app.metric("kitchen_logins_total{outcome=\"failed\"}").await,
        7.0
    );
    assert_eq!(
        app.metric("kitchen_logins_total{outcome=\"succeeded\"}")
            .await,
        1.0
    );
    let _ = sam;
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_its_family() {
    let app = App::spawn(|_| {}).await;
    let tenant = app.db.active_tenant().await;
    app.user(tenant, "alex@example.com", "member", "pw-alex")
        .await;
    let (_, first, _) = app.login(tenant, "alex@example.com", "pw-alex").await;
    let first_refresh = first["refreshToken"].as_str().unwrap().to_owned();

    let (status, second, _) = app
        .post(
            "/v1/auth/refresh",
            &json!({"refreshToken": first_refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{second}");
    let second_refresh = second["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(second_refresh, first_refresh);
    let (status, _, _) = app
        .post(
            "/v1/commands",
            &create_order(),
            second["accessToken"].as_str(),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the refreshed access token works"
    );
    // Stored hashed only.
    let stored = app.db.execute_as(
        DbRole::Owner,
        tenant,
        &format!("SELECT 1 FROM refresh_tokens WHERE token_hash = '{first_refresh}' OR token_hash = '{second_refresh}'"),
    ).await;
    assert_eq!(stored, 0, "no token is stored in the clear");
    let hash: String = {
        use sha2::Digest;
        sha2::Sha256::digest(first_refresh.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let by_hash = app
        .db
        .execute_as(
            DbRole::Owner,
            tenant,
            &format!(
                "SELECT 1 FROM refresh_tokens WHERE token_hash = '{hash}' AND used_at IS NOT NULL"
            ),
        )
        .await;
    assert_eq!(by_hash, 1, "stored as its SHA-256, marked used");

    // The first token again: reuse; the whole family is revoked.
    let (status, problem, _) = app
        .post(
            "/v1/auth/refresh",
            &json!({"refreshToken": first_refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(problem["code"], "refresh_token_reused");
    let (status, problem, _) = app
        .post(
            "/v1/auth/refresh",
            &json!({"refreshToken": second_refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked with its family");
    assert_eq!(problem["code"], "invalid_refresh_token");

    // Logout revokes a fresh login's tokens.
    let (_, third, _) = app.login(tenant, "alex@example.com", "pw-alex").await;
    let third_refresh = third["refreshToken"].as_str().unwrap();
    let (status, _, _) = app
        .post(
            "/v1/auth/logout",
            &json!({"refreshToken": third_refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = app
        .post(
            "/v1/auth/refresh",
            &json!({"refreshToken": third_refresh}),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Garbage is refused the same way.
    let (status, problem, _) = app
        .post("/v1/auth/refresh", &json!({"refreshToken": "nope"}), None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_refresh_token"))
    );
}

#[tokio::test]
async fn login_is_off_without_hs256() {
    let app = App::spawn(|s| s.auth.hs256_secret = String::new().into()).await;
    let (status, problem, _) = app
        .login(TenantId::new_random(), "a@example.com", "pw")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(problem["code"], "not_found");
}

#[tokio::test]
async fn a_member_places_orders_but_may_not_change_the_menu_and_nothing_is_written() {
    let app = App::spawn(|_| {}).await;
    let tenant = app.db.active_tenant().await;
    app.user(tenant, "kid@example.com", "member", "pw-kid")
        .await;
    app.user(tenant, "parent@example.com", "admin", "pw-parent")
        .await;
    let (_, member, _) = app.login(tenant, "kid@example.com", "pw-kid").await;
    let member = member["accessToken"].as_str().unwrap().to_owned();
    let add = json!({"type": "addMenuItem", "payload": {"menuItemId": "soup", "name": "Soup", "priceCents": 500}});

    let (status, problem, headers) = app.post("/v1/commands", &add, Some(&member)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{problem}");
    assert_eq!(problem["code"], "forbidden");
    assert_eq!(headers["content-type"], "application/problem+json");
    assert_eq!(
        app.db.count_rows("commands", tenant).await,
        0,
        "nothing written"
    );
    let (status, _, _) = app
        .post("/v1/commands", &create_order(), Some(&member))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "a member orders");

    let (_, admin, _) = app.login(tenant, "parent@example.com", "pw-parent").await;
    let (status, reply, _) = app
        .post("/v1/commands", &add, admin["accessToken"].as_str())
        .await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the admin changes the menu: {reply}"
    );
    assert_eq!(app.db.count_rows("commands", tenant).await, 2);
}

#[tokio::test]
async fn the_admin_adds_and_removes_members_and_a_user_changes_their_own_password() {
    let app = App::spawn(|_| {}).await;
    let tenant = app.db.active_tenant().await;
    let admin_id = app
        .user(tenant, "parent@example.com", "admin", "pw-parent")
        .await;
    let (_, admin, _) = app.login(tenant, "parent@example.com", "pw-parent").await;
    let admin = admin["accessToken"].as_str().unwrap().to_owned();
    let kid = json!({"email": "kid@example.com", "displayName": "Kid", "password": "kid-secret-1"});

    let (status, member, _) = app.post("/v1/members", &kid, Some(&admin)).await;
    assert_eq!(status, StatusCode::CREATED, "{member}");
    assert_eq!(
        (member["role"].as_str(), member["email"].as_str()),
        (Some("member"), Some("kid@example.com"))
    );
    let (status, problem, _) = app.post("/v1/members", &kid, Some(&admin)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("email_taken"))
    );
    let (status, problem, _) = app
        .post(
            "/v1/members",
            &json!({"email": "x", "displayName": "X", "password": "long-enough"}),
            Some(&admin),
        )
        .await;
    assert_eq!(
        (status, problem["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("email"))
    );
    assert_eq!(
        app.db.count_rows("users", tenant).await,
        2,
        "nothing half-written"
    );

    // The member logs in, may not add members, changes their own password.
    let (status, session, _) = app.login(tenant, "kid@example.com", "kid-secret-1").await;
    assert_eq!(status, StatusCode::OK);
    let member_token = session["accessToken"].as_str().unwrap().to_owned();
    let (status, problem, _) = app
        .post(
            "/v1/members",
            &json!({"email": "y@example.com", "displayName": "Y", "password": "long-enough"}),
            Some(&member_token),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let change = |current: &str| json!({"currentPassword": current, "newPassword": "kid-secret-2"});
    let put = |body: Value| {
        app.http
            .put(format!("{}/v1/me/password", app.base))
            .bearer_auth(&member_token)
            .json(&body)
            .send()
    };
    assert_eq!(
        put(change("wrong-one")).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        put(change("kid-secret-1")).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.login(tenant, "kid@example.com", "kid-secret-1").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login(tenant, "kid@example.com", "kid-secret-2").await.0,
        StatusCode::OK
    );
    let (status, _, _) = app
        .post(
            "/v1/auth/refresh",
            &json!({"refreshToken": session["refreshToken"]}),
            None,
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old session's refresh token is revoked"
    );

    // The admin removes the member (not themself).
    let remove = |id: &str| {
        app.http
            .delete(format!("{}/v1/members/{id}", app.base))
            .bearer_auth(&admin)
            .send()
    };
    let self_removal = remove(&admin_id.to_string()).await.unwrap();
    assert_eq!(self_removal.status(), StatusCode::CONFLICT);
    let kid_id = member["userId"].as_str().unwrap();
    assert_eq!(
        remove(kid_id).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        remove(kid_id).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.login(tenant, "kid@example.com", "kid-secret-2").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.db.count_rows("users", tenant).await, 1);
}
