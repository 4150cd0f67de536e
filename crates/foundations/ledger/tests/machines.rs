//! The ledger's state machines through the executor: random event sequences move only as the
//! declared tables say and never reach an undeclared state.

use paycore_ledger::{AccountStatus, DayEndStatus, HoldStatus};

paycore_store::machine_properties!(account_machine, AccountStatus);
paycore_store::machine_properties!(hold_machine, HoldStatus);
paycore_store::machine_properties!(day_end_machine, DayEndStatus);
