//! Acquiring's state machines through the executor: random event sequences move only as the
//! declared tables say and never reach an undeclared state.

use paycore_acquiring::{AttemptStatus, PaymentStatus, RefundStatus};

paycore_store::machine_properties!(payment_machine, PaymentStatus);
paycore_store::machine_properties!(attempt_machine, AttemptStatus);
paycore_store::machine_properties!(refund_machine, RefundStatus);
