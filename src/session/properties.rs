//! Property assignment (§3.2) with the original's exact messages ("less then" included), plus
//! D11 (NaN and fractional `LockAttempts` are rejected) and D12 (method and signal names cannot
//! be assigned).
//!
//! The host classifies the assigned value into an [`Input`] (its type, and the number or
//! boolean itself) and throws the message of a [`PropertyError`]: a JS host throws a
//! `TypeError` or `RangeError` by [`PropertyErrorKind`], a Luau host `error(message, 3)`.

use super::io::Io;
use super::{Session, State};
use crate::value::luau_number_to_string;

/// `Queue(value, expiration, priority)` with an expiration or priority that is neither nil
/// nor a number.
pub const QUEUE_ARGUMENT_ERROR: &str = "Attempt to Queue failed: Passed value is not nil or number";
/// `Remove(id)` with a non-string id (the original's message says "RemoveQueue").
pub const REMOVE_ARGUMENT_ERROR: &str =
    "Attempt to RemoveQueue failed: Passed value is not a string";
/// Assigning a read-only property, a signal or (D12) a method.
pub const READONLY_ERROR: &str = "Attempt to modify a readonly value";

/// Read-only properties and the signals.
pub const READ_ONLY: &[&str] = &[
    "Id",
    "UniqueId",
    "Key",
    "State",
    "Hidden",
    "AttemptsRemaining",
    "CreatedTime",
    "UpdatedTime",
    "Version",
    "CompressedValue",
    "StateChanged",
    "Saving",
    "Saved",
    "AttemptsChanged",
    "ProcessQueue",
];

/// The methods (D12: they cannot be shadowed by a custom field).
pub const METHODS: &[&str] = &[
    "Open",
    "Read",
    "Save",
    "Close",
    "Destroy",
    "Queue",
    "Remove",
    "Clone",
    "Reconcile",
    "Usage",
];

/// What the host is assigning, as far as the checks need to know.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Input {
    Nil,
    Bool(bool),
    /// Any number, NaN and ±∞ included.
    Number(f64),
    String,
    Table,
    /// A function, userdata, symbol, …
    Other,
}

/// Where an accepted assignment lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Assigned {
    /// The core stored it; read it back through the session's getter.
    Core,
    /// The host stores it: `Value`, `Metadata`, `UserIds` and custom fields.
    Host,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyErrorKind {
    /// The value has the wrong type (NaN counts as "not a number").
    Type,
    /// The value is out of range.
    Range,
    /// The property cannot be assigned.
    ReadOnly,
    /// The session handle is unknown.
    UnknownSession,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyError {
    pub kind: PropertyErrorKind,
    pub message: String,
}

impl std::fmt::Display for PropertyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PropertyError {}

impl PropertyError {
    pub(crate) fn unknown_session() -> PropertyError {
        PropertyError {
            kind: PropertyErrorKind::UnknownSession,
            message: "unknown session".into(),
        }
    }
}

fn failed(kind: PropertyErrorKind, name: &str, tail: &str) -> PropertyError {
    PropertyError {
        kind,
        message: format!("Attempt to set {name} failed: Passed value {tail}"),
    }
}

/// A number that is not NaN (D11), or the original's "not a number".
fn number(name: &str, input: Input) -> Result<f64, PropertyError> {
    match input {
        Input::Number(n) if !n.is_nan() => Ok(n),
        _ => Err(failed(PropertyErrorKind::Type, name, "is not a number")),
    }
}

fn range(name: &str, tail: &str) -> PropertyError {
    failed(PropertyErrorKind::Range, name, tail)
}

/// A number in `lo..=hi`, or the original's "less then" / "more then" message.
fn bounded(name: &str, input: Input, lo: f64, hi: f64) -> Result<f64, PropertyError> {
    let n = number(name, input)?;
    if n < lo {
        return Err(range(
            name,
            &format!("is less then {}", luau_number_to_string(lo)),
        ));
    }
    if n > hi {
        return Err(range(
            name,
            &format!("is more then {}", luau_number_to_string(hi)),
        ));
    }
    Ok(n)
}

/// An accepted assignment of a core-owned property.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Checked {
    Host,
    SaveInterval(f64),
    SaveDelay(f64),
    LockInterval(f64),
    LockAttempts(f64),
    SaveOnClose(bool),
}

fn check(name: &str, input: Input) -> Result<Checked, PropertyError> {
    Ok(match name {
        "Value" => Checked::Host,
        "Metadata" | "UserIds" => match input {
            Input::Table => Checked::Host,
            _ => return Err(failed(PropertyErrorKind::Type, name, "is not a table")),
        },
        "SaveInterval" => {
            let n = number(name, input)?;
            if n < 10.0 && n != 0.0 {
                return Err(range(name, "is less then 10 and not 0"));
            }
            if n > 1000.0 {
                return Err(range(name, "is more then 1000"));
            }
            Checked::SaveInterval(n)
        }
        "SaveDelay" => Checked::SaveDelay(bounded(name, input, 0.0, 10.0)?),
        "LockInterval" => Checked::LockInterval(bounded(name, input, 10.0, 1000.0)?),
        "LockAttempts" => {
            let n = bounded(name, input, 1.0, 100.0)?;
            if n.fract() != 0.0 {
                // D11: a fractional count would make AttemptsRemaining fractional.
                return Err(range(name, "is not an integer"));
            }
            Checked::LockAttempts(n)
        }
        "SaveOnClose" => match input {
            Input::Bool(b) => Checked::SaveOnClose(b),
            _ => return Err(failed(PropertyErrorKind::Type, name, "is not a boolean")),
        },
        _ if READ_ONLY.contains(&name) || METHODS.contains(&name) => {
            return Err(PropertyError {
                kind: PropertyErrorKind::ReadOnly,
                message: READONLY_ERROR.into(),
            })
        }
        // A custom field (`ds.Leaderstats = folder`).
        _ => Checked::Host,
    })
}

impl Session {
    pub(crate) fn set_property(
        &mut self,
        io: &mut Io,
        name: &str,
        input: Input,
    ) -> Result<Assigned, PropertyError> {
        match check(name, input)? {
            Checked::Host => return Ok(Assigned::Host),
            Checked::SaveInterval(n) => self.set_save_interval(io, n),
            Checked::SaveDelay(n) => self.props.save_delay = n,
            // Both take effect at the next lock (§8.3).
            Checked::LockInterval(n) => self.props.lock_interval = n,
            Checked::LockAttempts(n) => self.props.lock_attempts = n,
            Checked::SaveOnClose(b) => self.props.save_on_close = b,
        }
        Ok(Assigned::Core)
    }

    fn set_save_interval(&mut self, io: &mut Io, n: f64) {
        if n == self.props.save_interval {
            return;
        }
        self.props.save_interval = n;
        if self.state != State::Open {
            return;
        }
        if n == 0.0 {
            io.cancel_timer(self.save_timer.take());
        } else if !self.closing_or_destroying() {
            self.start_save_timer(io);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn custom_fields_go_to_the_host() {
        assert_eq!(check("Leaderstats", Input::Other), Ok(Checked::Host));
        assert_eq!(check("Value", Input::Nil), Ok(Checked::Host));
    }

    #[test]
    fn infinity_is_out_of_range_not_a_type_error() {
        let err = check("SaveDelay", Input::Number(f64::INFINITY)).unwrap_err();
        assert_eq!(err.kind, PropertyErrorKind::Range);
        assert_eq!(
            err.message,
            "Attempt to set SaveDelay failed: Passed value is more then 10"
        );
    }
}
