//! State machines (E6) declared as data: each stateful type lists its states and its
//! transitions `(state, event) -> state` in one table, and this is the only place that decides
//! a move. The store's executor (`paycore_store::state`) applies a move as a compare-and-set on
//! the old state and writes a history row; nothing else changes a status.
//!
//! [`Named`] gives enums their stored (and shown) names; [`named!`](crate::named) writes it.

use std::fmt::Debug;

/// An enum whose values have fixed names: the text stored in the database and shown in the API.
pub trait Named: Copy + Eq + Debug + Sized + 'static {
    /// Every value, in declaration order.
    const ALL: &'static [Self];

    fn as_str(self) -> &'static str;

    /// The value of a stored name, or `None` for a name this build does not know.
    fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

/// Implements [`Named`] for an enum from a table of names, and `as_str` as an inherent method
/// too (so callers need not import the trait):
/// `named!(Color { Red => "red", Green => "green" });`
#[macro_export]
macro_rules! named {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
        }
        impl $crate::state::Named for $ty {
            const ALL: &'static [Self] = &[$($ty::$variant),*];
            fn as_str(self) -> &'static str {
                $ty::as_str(self)
            }
        }
    };
}

pub trait StateMachine: Named {
    type Event: Named;

    /// The states an object may be created in.
    const INITIAL: &'static [Self];

    /// Every allowed move. Anything not listed is illegal.
    const TRANSITIONS: &'static [(Self, Self::Event, Self)];

    /// The state after `event`, or `None` when the move is not declared.
    fn next(self, event: Self::Event) -> Option<Self> {
        Self::TRANSITIONS
            .iter()
            .find(|(from, ev, _)| *from == self && *ev == event)
            .map(|(_, _, to)| *to)
    }

    /// No event moves it any more.
    fn is_final(self) -> bool {
        !Self::TRANSITIONS.iter().any(|(from, _, _)| *from == self)
    }
}

/// An event that the current state does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} is not allowed in state {state}")]
pub struct IllegalTransition {
    pub state: &'static str,
    pub event: &'static str,
}

/// `next`, or the error a caller reports.
pub fn apply<S: StateMachine>(state: S, event: S::Event) -> Result<S, IllegalTransition> {
    state.next(event).ok_or(IllegalTransition {
        state: state.as_str(),
        event: event.as_str(),
    })
}

/// The declaration's own consistency, checked by every machine's tests: names are unique and
/// round-trip, every declared move starts and ends in a declared state, no `(state, event)`
/// pair is declared twice, and every state can be reached from an initial one.
pub fn check_declaration<S: StateMachine>() -> Result<(), String> {
    fn unique_names<T: Named>(what: &str) -> Result<(), String> {
        for (i, a) in T::ALL.iter().enumerate() {
            if T::parse(a.as_str()) != Some(*a) {
                return Err(format!("{what} {a:?} does not parse back from its name"));
            }
            if T::ALL[..i].iter().any(|b| b.as_str() == a.as_str()) {
                return Err(format!("{what} name {:?} is used twice", a.as_str()));
            }
        }
        Ok(())
    }
    unique_names::<S>("state")?;
    unique_names::<S::Event>("event")?;
    if S::INITIAL.is_empty() {
        return Err("no initial state".into());
    }
    for (i, (from, ev, to)) in S::TRANSITIONS.iter().enumerate() {
        if !S::ALL.contains(from) || !S::ALL.contains(to) || !S::Event::ALL.contains(ev) {
            return Err(format!(
                "{from:?} --{ev:?}--> {to:?} uses an undeclared value"
            ));
        }
        if S::TRANSITIONS[..i]
            .iter()
            .any(|(f, e, _)| f == from && e == ev)
        {
            return Err(format!("{from:?} + {ev:?} is declared twice"));
        }
    }
    let mut reached: Vec<S> = S::INITIAL.to_vec();
    let mut i = 0;
    while let Some(s) = reached.get(i).copied() {
        for (_, _, to) in S::TRANSITIONS.iter().filter(|(f, _, _)| *f == s) {
            if !reached.contains(to) {
                reached.push(*to);
            }
        }
        i += 1;
    }
    match S::ALL.iter().find(|s| !reached.contains(s)) {
        Some(s) => Err(format!("state {s:?} cannot be reached")),
        None => Ok(()),
    }
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
    crate::named!(Door { Open => "open", Shut => "shut", Gone => "gone" });

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Push {
        Close,
        Open,
        Remove,
    }
    crate::named!(Push { Close => "close", Open => "open", Remove => "remove" });

    impl StateMachine for Door {
        type Event = Push;
        const INITIAL: &'static [Self] = &[Door::Open];
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
        assert_eq!(Door::parse("shut"), Some(Door::Shut));
        assert_eq!(Door::parse("ajar"), None);
        assert_eq!(check_declaration::<Door>(), Ok(()));
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Bad {
        A,
        B,
        C,
    }
    crate::named!(Bad { A => "a", B => "b", C => "c" });
    impl StateMachine for Bad {
        type Event = Push;
        const INITIAL: &'static [Self] = &[Bad::A];
        const TRANSITIONS: &'static [(Self, Push, Self)] = &[(Bad::A, Push::Close, Bad::B)];
    }

    #[test]
    fn an_unreachable_state_is_a_declaration_error() {
        assert!(check_declaration::<Bad>().unwrap_err().contains("C"));
    }
}
