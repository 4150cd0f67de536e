//! Roles and what each may do. Every `/admin/v1` route declares the permission it needs (the
//! gateway's route table); a role either has that permission or the call is `FORBIDDEN`.

use paycore_kernel::named;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Reads everything an operator can read; changes nothing.
    Viewer,
    /// Day-to-day operations: merchants' onboarding data and contracts, channels,
    /// notifications, alerts, error cases.
    Operator,
    /// Money: day-end, reconciliation, adjustments, settlements.
    Finance,
    /// Merchants' status and keys, and the operators themselves; may also do all the above.
    Admin,
}
named!(Role { Viewer => "viewer", Operator => "operator", Finance => "finance", Admin => "admin" });

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Read,
    Operate,
    Finance,
    Admin,
}
named!(Permission { Read => "read", Operate => "operate", Finance => "finance", Admin => "admin" });

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Operator, Role::Finance, Role::Admin];

    /// The permission table: rows are roles, columns permissions.
    pub fn may(self, p: Permission) -> bool {
        matches!(
            (self, p),
            (Role::Admin, _)
                | (_, Permission::Read)
                | (Role::Operator, Permission::Operate)
                | (Role::Finance, Permission::Finance)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_permission_table() {
        use Permission::*;
        let table: Vec<(Role, Vec<Permission>)> = Role::ALL
            .iter()
            .map(|r| {
                (
                    *r,
                    [Read, Operate, Finance, Admin]
                        .into_iter()
                        .filter(|p| r.may(*p))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            table,
            vec![
                (Role::Viewer, vec![Read]),
                (Role::Operator, vec![Read, Operate]),
                (Role::Finance, vec![Read, Finance]),
                (Role::Admin, vec![Read, Operate, Finance, Admin]),
            ]
        );
    }
}
