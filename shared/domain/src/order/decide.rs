//! The rules: which commands an order accepts, and the events they produce.

use super::commands::MarkOrderDue;
use super::commands::OrderCommand;
use super::events::{OrderCancelled, OrderCreated, OrderDue, OrderEvent, OrderStatusUpdated};
use super::state::Order;
use super::values::OrderStatus;
use crate::aggregate::{Aggregate, Rejection, Timer};
use crate::ids::AggregateId;

/// Why an order refused a command. The `Display` text is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrderRejection {
    #[error("order {0} already exists")]
    AlreadyExists(AggregateId),
    #[error("order {0} does not exist")]
    NotFound(AggregateId),
    #[error("order cannot move from {from} to {to}; the next status is {}", next_status(*from))]
    InvalidTransition { from: OrderStatus, to: OrderStatus },
    #[error("order cannot be cancelled once it is {0}")]
    CannotCancel(OrderStatus),
    #[error("order is not scheduled for a later time")]
    NotScheduled,
    #[error("order is already due")]
    AlreadyDue,
    #[error("order {0} was cancelled")]
    WasCancelled(AggregateId),
}

fn next_status(from: OrderStatus) -> String {
    from.next()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "none (the order is final)".into())
}

impl Rejection for OrderRejection {
    fn code(&self) -> &'static str {
        match self {
            Self::AlreadyExists(_) => "order_already_exists",
            Self::NotFound(_) => "order_not_found",
            Self::InvalidTransition { .. } => "invalid_status_transition",
            Self::CannotCancel(_) => "order_not_cancellable",
            Self::NotScheduled => "order_not_scheduled",
            Self::AlreadyDue => "order_already_due",
            Self::WasCancelled(_) => "order_cancelled",
        }
    }
}

impl Aggregate for Order {
    const TYPE: &'static str = "order";
    /// 2 since `OrderCreated` v2 (`customerId`, `items[].notes`).
    const STATE_VERSION: i32 = 2;
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Rejection = OrderRejection;

    fn decide(&self, command: &OrderCommand) -> Result<Vec<OrderEvent>, OrderRejection> {
        let order = match (self, command) {
            (Order::Absent, OrderCommand::Create(c)) => {
                return Ok(vec![OrderEvent::Created(OrderCreated {
                    order_id: c.order_id,
                    customer_id: c.user_id.clone(),
                    items: c.items.to_lines(),
                    scheduled_for: c.scheduled_for,
                })]);
            }
            (Order::Placed(o), OrderCommand::Create(_)) => {
                return Err(OrderRejection::AlreadyExists(o.order_id))
            }
            (Order::Absent, other) => return Err(OrderRejection::NotFound(other.order_id())),
            (Order::Placed(order), _) => order,
        };
        match command {
            OrderCommand::Create(_) => unreachable!("handled above"),
            OrderCommand::UpdateStatus(c) => {
                if order.status.next() != Some(c.status) {
                    return Err(OrderRejection::InvalidTransition {
                        from: order.status,
                        to: c.status,
                    });
                }
                Ok(vec![OrderEvent::StatusUpdated(OrderStatusUpdated {
                    order_id: order.order_id,
                    from: order.status,
                    to: c.status,
                })])
            }
            OrderCommand::Cancel(c) => {
                if !order.status.can_cancel() {
                    return Err(OrderRejection::CannotCancel(order.status));
                }
                Ok(vec![OrderEvent::Cancelled(OrderCancelled {
                    order_id: order.order_id,
                    previous_status: order.status,
                    reason: c.reason.clone(),
                })])
            }
            OrderCommand::MarkDue(_) => {
                let Some(scheduled_for) = order.scheduled_for else {
                    return Err(OrderRejection::NotScheduled);
                };
                if order.due {
                    return Err(OrderRejection::AlreadyDue);
                }
                if order.status == OrderStatus::Cancelled {
                    return Err(OrderRejection::WasCancelled(order.order_id));
                }
                Ok(vec![OrderEvent::Due(OrderDue {
                    order_id: order.order_id,
                    scheduled_for,
                })])
            }
        }
    }

    fn evolve(self, event: &OrderEvent) -> Order {
        self.apply(event)
    }

    /// A scheduled order falls due at its time: `markOrderDue` then.
    fn timers(command: &OrderCommand) -> Vec<Timer<OrderCommand>> {
        match command {
            OrderCommand::Create(c) => c
                .scheduled_for
                .map(|due_at| Timer {
                    due_at,
                    command: OrderCommand::MarkDue(MarkOrderDue {
                        order_id: c.order_id,
                    }),
                })
                .into_iter()
                .collect(),
            _ => Vec::new(),
        }
    }
}
