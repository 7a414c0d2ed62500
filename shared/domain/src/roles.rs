//! Roles of a household's users. What each may send is decided by the
//! catalog ([`crate::catalog::AnyCommand::required_role`]): orders are every
//! member's, the menu (and the household's members) the admin's.

/// A user's role; `Admin` may do everything a `Member` may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Member,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
        }
    }

    /// The role a token's `role` claim grants: an unknown or missing claim
    /// grants the least (`member`), never more.
    pub fn from_claim(claim: Option<&str>) -> Role {
        match claim {
            Some("admin") => Role::Admin,
            _ => Role::Member,
        }
    }

    /// Whether this role may do what `required` may.
    pub fn includes(self, required: Role) -> bool {
        self == Role::Admin || required == Role::Member
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_includes_a_member_and_not_the_other_way_round() {
        assert!(Role::Admin.includes(Role::Member));
        assert!(Role::Admin.includes(Role::Admin));
        assert!(Role::Member.includes(Role::Member));
        assert!(!Role::Member.includes(Role::Admin));
    }

    #[test]
    fn only_the_admin_claim_grants_admin() {
        assert_eq!(Role::from_claim(Some("admin")), Role::Admin);
        for claim in [None, Some("member"), Some("Admin"), Some("root"), Some("")] {
            assert_eq!(Role::from_claim(claim), Role::Member, "{claim:?}");
        }
    }
}
