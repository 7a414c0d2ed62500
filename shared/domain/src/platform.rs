//! The tenant lifecycle as data (DESIGN.md section 7): the platform's command
//! types, what a provisioning request may hold and how it is validated, the
//! saga's steps and its progress. Pure: the workflows (kitchen-temporal) and
//! the gateway both use it, so a field is validated the same way everywhere.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::catalog::{from_json_value, PayloadError};
use crate::ids::{CommandId, TenantId};
use crate::menu::NewMenuItem;
use crate::values::NonEmptyText;

/// Platform command types. They are stored in `commands` under the TARGET
/// tenant's id (so RLS applies to them like to any command), and the
/// `tenant.` prefix is how `erase_tenant()` knows to keep them.
pub const PROVISION: &str = "tenant.provision";
pub const CANCEL: &str = "tenant.cancel";
pub const UPDATE: &str = "tenant.update";
pub const OFFBOARD: &str = "tenant.offboard";
pub const RESTORE: &str = "tenant.restore";

/// Every platform command type.
pub const COMMAND_TYPES: &[&str] = &[PROVISION, CANCEL, UPDATE, OFFBOARD, RESTORE];

/// Whether `command_type` is a platform command (never a tenant's own).
pub fn is_platform_command(command_type: &str) -> bool {
    COMMAND_TYPES.contains(&command_type)
}

/// Namespace of tenant ids derived from an idempotency key (UUID v5).
const TENANT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b69_7463_6865_6e5f_7465_6e61_6e74_7331);
/// Namespace of the admin user's id, derived from the tenant (UUID v5).
const ADMIN_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6b69_7463_6865_6e5f_6164_6d69_6e5f_7573);

/// The tenant a provisioning request without `tenantId` creates: derived from
/// its idempotency key, so the same POST twice names the same tenant (one saga).
pub fn tenant_id_from_key(key: CommandId) -> TenantId {
    TenantId::from_uuid(Uuid::new_v5(&TENANT_ID_NAMESPACE, key.as_uuid().as_bytes()))
        .expect("a v5 UUID is never nil")
}

/// The id of a tenant's first admin: one per tenant, whatever the retries.
pub fn admin_user_id(tenant: TenantId) -> Uuid {
    Uuid::new_v5(&ADMIN_ID_NAMESPACE, tenant.as_uuid().as_bytes())
}

/// The admin as stored in the command payload (the password is not here: its
/// hash is kept apart, see `tenant_admin_secrets`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdminSpec {
    pub email: String,
    pub display_name: String,
}

/// The payload of `tenant.provision`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvisionPayload {
    pub name: String,
    pub admin: AdminSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    /// The initial menu; the default menu when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub menu: Option<Vec<NewMenuItem>>,
}

/// The payload of `tenant.cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelPayload {
    pub reason: String,
}

/// The payload of `tenant.update` (at least one field).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UpdatePayload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
}

/// Longest plan name.
const MAX_PLAN_CHARS: usize = 50;
/// Longest email address (RFC 5321 path limit).
const MAX_EMAIL_CHARS: usize = 254;

fn invalid(field: &str, reason: impl Into<String>) -> PayloadError {
    PayloadError {
        field: field.to_owned(),
        reason: reason.into(),
    }
}

/// A household name: not blank, at most 200 characters.
pub fn validate_name(field: &str, name: &str) -> Result<(), PayloadError> {
    NonEmptyText::new(name)
        .map(|_| ())
        .map_err(|e| invalid(field, e))
}

fn validate_plan(field: &str, plan: &str) -> Result<(), PayloadError> {
    let ok = !plan.is_empty()
        && plan.chars().count() <= MAX_PLAN_CHARS
        && plan
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!("must be 1 to {MAX_PLAN_CHARS} letters, digits, '-' or '_'"),
        ))
    }
}

/// An email address: `local@domain.tld`, no spaces, at most 254 characters.
/// (Deliverability is not checked; this catches typos and garbage.)
pub fn validate_email(field: &str, email: &str) -> Result<(), PayloadError> {
    let bad = || invalid(field, "must be an email address like name@example.com");
    if email.chars().count() > MAX_EMAIL_CHARS || email.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let domain_ok = domain.contains('.')
        && !domain.contains('@')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'));
    if local.is_empty() || !domain_ok {
        return Err(bad());
    }
    Ok(())
}

impl ProvisionPayload {
    /// Parses and validates, naming the first bad field (`name`, `admin.email`...).
    pub fn parse(value: &serde_json::Value) -> Result<Self, PayloadError> {
        let payload: Self = from_json_value(value)?;
        payload.validate()?;
        Ok(payload)
    }

    pub fn validate(&self) -> Result<(), PayloadError> {
        validate_name("name", &self.name)?;
        validate_email("admin.email", &self.admin.email)?;
        NonEmptyText::new(self.admin.display_name.as_str())
            .map_err(|e| invalid("admin.displayName", e))?;
        if let Some(plan) = &self.plan {
            validate_plan("plan", plan)?;
        }
        if let Some(menu) = &self.menu {
            if menu.len() > MAX_MENU_ITEMS {
                return Err(invalid(
                    "menu",
                    format!("at most {MAX_MENU_ITEMS} items at provisioning"),
                ));
            }
        }
        Ok(())
    }

    /// The menu to create: the request's, or the default one.
    pub fn initial_menu(&self) -> Vec<NewMenuItem> {
        self.menu.clone().unwrap_or_else(default_menu)
    }
}

impl UpdatePayload {
    pub fn parse(value: &serde_json::Value) -> Result<Self, PayloadError> {
        let payload: Self = from_json_value(value)?;
        if payload.name.is_none() && payload.plan.is_none() {
            return Err(invalid("", "give at least one of `name`, `plan`"));
        }
        if let Some(name) = &payload.name {
            validate_name("name", name)?;
        }
        if let Some(plan) = &payload.plan {
            validate_plan("plan", plan)?;
        }
        Ok(payload)
    }
}

impl CancelPayload {
    pub fn parse(value: &serde_json::Value) -> Result<Self, PayloadError> {
        let payload: Self = from_json_value(value)?;
        NonEmptyText::new(payload.reason.as_str()).map_err(|e| invalid("reason", e))?;
        Ok(payload)
    }
}

/// Most menu items a provisioning request may carry.
pub const MAX_MENU_ITEMS: usize = 100;

/// The menu of a household that asked for none.
pub fn default_menu() -> Vec<NewMenuItem> {
    let item = |id: &str, name: &str, price: i64| NewMenuItem {
        menu_item_id: NonEmptyText::new(id).expect("literal"),
        name: NonEmptyText::new(name).expect("literal"),
        price_cents: crate::menu::PriceCents::new(price).expect("literal"),
    };
    vec![
        item("soup", "Soup of the day", 450),
        item("pasta", "Pasta", 900),
        item("salad", "Green salad", 550),
    ]
}

/// The steps of `TenantProvisioning`, in order. Each has a compensation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    Validate,
    CreateTenant,
    CreateAdmin,
    InitialData,
    Activate,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Validate,
        Step::CreateTenant,
        Step::CreateAdmin,
        Step::InitialData,
        Step::Activate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Validate => "validate",
            Step::CreateTenant => "createTenant",
            Step::CreateAdmin => "createAdmin",
            Step::InitialData => "initialData",
            Step::Activate => "activate",
        }
    }

    pub fn from_name(name: &str) -> Option<Step> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Position in [`Step::ALL`].
    pub fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|s| *s == self)
            .expect("every step is listed")
    }
}

/// Why a saga stopped, as shown by the `progress` query and the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StepError {
    pub step: String,
    pub reason: String,
}

/// `{percent, step, steps, error?}` plus the steps done, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub percent: u8,
    /// The step running (or the last one, once done).
    pub step: String,
    pub steps: usize,
    #[serde(default)]
    pub completed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<StepError>,
}

impl Default for Progress {
    fn default() -> Self {
        Self {
            percent: 0,
            step: Step::Validate.name().to_owned(),
            steps: Step::ALL.len(),
            completed: Vec::new(),
            error: None,
        }
    }
}

impl Progress {
    /// After `step` is done: its share of 100, the next step named.
    pub fn completed(&self, step: Step) -> Progress {
        let mut next = self.clone();
        if !next.completed.iter().any(|s| s == step.name()) {
            next.completed.push(step.name().to_owned());
        }
        next.percent = ((step.index() + 1) * 100 / Step::ALL.len()) as u8;
        next.step = Step::ALL
            .get(step.index() + 1)
            .copied()
            .unwrap_or(step)
            .name()
            .to_owned();
        next
    }

    pub fn failed(&self, step: Step, reason: impl Into<String>) -> Progress {
        let mut next = self.clone();
        next.step = step.name().to_owned();
        next.error = Some(StepError {
            step: step.name().to_owned(),
            reason: reason.into(),
        });
        next
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request() -> serde_json::Value {
        json!({"name": "The Smiths", "admin": {"email": "sam@example.com", "displayName": "Sam"}})
    }

    #[test]
    fn a_valid_request_parses_and_gets_the_default_menu() {
        let payload = ProvisionPayload::parse(&request()).unwrap();
        assert_eq!(payload.initial_menu().len(), 3);
    }

    #[test]
    fn a_bad_name_or_email_names_the_field() {
        let mut bad = request();
        bad["name"] = json!("  ");
        assert_eq!(ProvisionPayload::parse(&bad).unwrap_err().field, "name");
        for email in [
            "sam",
            "sam@",
            "@example.com",
            "sam@example",
            "s am@example.com",
        ] {
            let mut bad = request();
            bad["admin"]["email"] = json!(email);
            assert_eq!(
                ProvisionPayload::parse(&bad).unwrap_err().field,
                "admin.email",
                "{email}"
            );
        }
        let mut bad = request();
        bad["admin"]["password"] = json!("secret");
        assert!(
            ProvisionPayload::parse(&bad).is_err(),
            "no password in the payload"
        );
    }

    #[test]
    fn the_same_key_derives_the_same_tenant() {
        let key = CommandId::new_random();
        assert_eq!(tenant_id_from_key(key), tenant_id_from_key(key));
        assert_ne!(
            tenant_id_from_key(key),
            tenant_id_from_key(CommandId::new_random())
        );
    }

    #[test]
    fn progress_goes_from_0_to_100_through_every_step() {
        let mut progress = Progress::default();
        assert_eq!(progress.percent, 0);
        for step in Step::ALL {
            progress = progress.completed(step);
        }
        assert_eq!(progress.percent, 100);
        assert_eq!(
            progress.completed,
            Step::ALL.map(|s| s.name().to_owned()).to_vec()
        );
    }
}
