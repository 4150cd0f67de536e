//! The sandbox's state machines through the executor: random event sequences move only as the
//! declared tables say and never reach an undeclared state.

use paycore_sandbox::books::OrderState;
use paycore_sandbox::notifier::NotificationState;

paycore_store::machine_properties!(order_machine, OrderState);
paycore_store::machine_properties!(notification_machine, NotificationState);
