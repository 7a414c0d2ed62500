//! The Menu aggregate (DESIGN.md section 7): one per tenant, the dishes a
//! household can order, each with a name, a price and whether it is available.
//! Its id derives from the tenant ([`crate::AggregateId::of_tenant`]).

mod commands;
mod decide;
mod events;
mod state;

#[cfg(test)]
mod tests;

pub use commands::{AddMenuItem, ChangeMenuItem, MenuCommand, RemoveMenuItem};
pub use decide::MenuRejection;
pub use events::{MenuEvent, MenuItemAdded, MenuItemChanged, MenuItemRemoved};
pub use state::{Menu, MenuItem, MenuItemPatch, NewMenuItem, PriceCents};
