//! The Order aggregate (DESIGN.md section 7): an order moves
//! `placed -> confirmed -> preparing -> ready -> delivered`, and can be cancelled
//! until it is being prepared.

mod commands;
mod decide;
mod events;
mod state;
mod values;

#[cfg(test)]
mod tests;

pub use commands::{CancelOrder, CreateOrder, MarkOrderDue, OrderCommand, UpdateOrderStatus};
pub use decide::OrderRejection;
pub use events::{
    OrderCancelled, OrderCreated, OrderDue, OrderEvent, OrderStatusUpdated, ORDER_UPCASTERS,
};
pub use state::{Order, PlacedOrder};
pub use values::{Items, LineItem, NonEmptyText, OrderLine, OrderStatus, Quantity};
