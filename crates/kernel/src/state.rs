//! State machines (E6) declared as data: each stateful type lists its transitions
//! `(state, event) -> state` in one table, and this is the only place that decides a move.
//! Stores apply a move as a compare-and-set on the old state and write a history row.

use std::fmt::Debug;

pub trait StateMachine: Copy + Eq + Debug + Sized + 'static {
    type Event: Copy + Eq + Debug + 'static;

    /// Every allowed move. Anything not listed is illegal.
    const TRANSITIONS: &'static [(Self, Self::Event, Self)];

    /// The state after `event`, or `None` when the move is not declared.
    fn next(self, event: Self::Event) -> Option<Self> {
        Self::TRANSITIONS
            .iter()
            .find(|(from, ev, _)| *from == self && *ev == event)
            .map(|(_, _, to)| *to)
    }

    fn is_final(self) -> bool {
        !Self::TRANSITIONS.iter().any(|(from, _, _)| *from == self)
    }
}

/// An event that the current state does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not allowed in state {state}")]
pub struct IllegalTransition {
    pub state: String,
    pub event: String,
}

/// `next`, or the error a caller reports.
pub fn apply<S: StateMachine>(state: S, event: S::Event) -> Result<S, IllegalTransition> {
    state.next(event).ok_or_else(|| IllegalTransition {
        state: format!("{state:?}"),
        event: format!("{event:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Door {
        Open,
        Shut,
        Gone,
    }
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Push {
        Close,
        Open,
        Remove,
    }
    impl StateMachine for Door {
        type Event = Push;
        const TRANSITIONS: &'static [(Self, Push, Self)] = &[
            (Door::Open, Push::Close, Door::Shut),
            (Door::Shut, Push::Open, Door::Open),
            (Door::Shut, Push::Remove, Door::Gone),
        ];
    }

    #[test]
    fn only_declared_moves_happen() {
        assert_eq!(apply(Door::Open, Push::Close), Ok(Door::Shut));
        assert!(apply(Door::Open, Push::Open).is_err());
        assert!(apply(Door::Gone, Push::Open).is_err());
        assert!(Door::Gone.is_final());
        assert!(!Door::Shut.is_final());
    }
}
