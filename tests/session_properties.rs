//! §3.2 property checks with the original's messages, D11 (NaN, fractional LockAttempts) and
//! D12 (methods and signals cannot be assigned).

mod session_common;

use datastore_module::session::properties::{METHODS, READ_ONLY};
use datastore_module::session::{Assigned, Input, PropertyErrorKind};
use session_common::*;

fn set(d: &mut Driver, name: &str, input: Input) -> Result<Assigned, (PropertyErrorKind, String)> {
    let s = d.new_session("Player", "1");
    d.m.set_property(d.now, s, name, input)
        .map_err(|e| (e.kind, e.message))
}

fn type_error(message: &str) -> Result<Assigned, (PropertyErrorKind, String)> {
    Err((PropertyErrorKind::Type, message.into()))
}

fn range_error(message: &str) -> Result<Assigned, (PropertyErrorKind, String)> {
    Err((PropertyErrorKind::Range, message.into()))
}

#[test]
fn save_interval_checks_use_the_originals_messages() {
    let mut d = Driver::new();
    let p = "Attempt to set SaveInterval failed: Passed value";
    assert_eq!(
        set(&mut d, "SaveInterval", Input::String),
        type_error(&format!("{p} is not a number"))
    );
    assert_eq!(
        set(&mut d, "SaveInterval", Input::Number(9.0)),
        range_error(&format!("{p} is less then 10 and not 0"))
    );
    assert_eq!(
        set(&mut d, "SaveInterval", Input::Number(1000.5)),
        range_error(&format!("{p} is more then 1000"))
    );
    for ok in [0.0, 10.0, 1000.0, 12.5] {
        assert_eq!(
            set(&mut d, "SaveInterval", Input::Number(ok)),
            Ok(Assigned::Core)
        );
    }
    let s = d.new_session("Player", "1");
    assert_eq!(d.m.session(s).unwrap().save_interval(), 12.5);
}

#[test]
fn save_delay_checks_use_the_originals_messages() {
    let mut d = Driver::new();
    let p = "Attempt to set SaveDelay failed: Passed value";
    assert_eq!(
        set(&mut d, "SaveDelay", Input::Bool(true)),
        type_error(&format!("{p} is not a number"))
    );
    assert_eq!(
        set(&mut d, "SaveDelay", Input::Number(-0.5)),
        range_error(&format!("{p} is less then 0"))
    );
    assert_eq!(
        set(&mut d, "SaveDelay", Input::Number(10.5)),
        range_error(&format!("{p} is more then 10"))
    );
    assert_eq!(
        set(&mut d, "SaveDelay", Input::Number(6.0)),
        Ok(Assigned::Core)
    );
}

#[test]
fn lock_interval_checks_use_the_originals_messages() {
    let mut d = Driver::new();
    let p = "Attempt to set LockInterval failed: Passed value";
    assert_eq!(
        set(&mut d, "LockInterval", Input::Nil),
        type_error(&format!("{p} is not a number"))
    );
    assert_eq!(
        set(&mut d, "LockInterval", Input::Number(9.99)),
        range_error(&format!("{p} is less then 10"))
    );
    assert_eq!(
        set(&mut d, "LockInterval", Input::Number(1001.0)),
        range_error(&format!("{p} is more then 1000"))
    );
    assert_eq!(
        set(&mut d, "LockInterval", Input::Number(10.5)),
        Ok(Assigned::Core)
    );
}

#[test]
fn lock_attempts_checks_use_the_originals_messages() {
    let mut d = Driver::new();
    let p = "Attempt to set LockAttempts failed: Passed value";
    assert_eq!(
        set(&mut d, "LockAttempts", Input::Table),
        type_error(&format!("{p} is not a number"))
    );
    assert_eq!(
        set(&mut d, "LockAttempts", Input::Number(0.0)),
        range_error(&format!("{p} is less then 1"))
    );
    assert_eq!(
        set(&mut d, "LockAttempts", Input::Number(101.0)),
        range_error(&format!("{p} is more then 100"))
    );
    assert_eq!(
        set(&mut d, "LockAttempts", Input::Number(100.0)),
        Ok(Assigned::Core)
    );
}

#[test]
fn nan_is_not_a_number_for_every_numeric_property_d11() {
    let mut d = Driver::new();
    for name in ["SaveInterval", "SaveDelay", "LockInterval", "LockAttempts"] {
        assert_eq!(
            set(&mut d, name, Input::Number(f64::NAN)),
            type_error(&format!(
                "Attempt to set {name} failed: Passed value is not a number"
            ))
        );
    }
}

#[test]
fn fractional_lock_attempts_are_rejected_d11() {
    let mut d = Driver::new();
    assert_eq!(
        set(&mut d, "LockAttempts", Input::Number(2.5)),
        range_error("Attempt to set LockAttempts failed: Passed value is not an integer")
    );
}

#[test]
fn save_on_close_must_be_a_boolean() {
    let mut d = Driver::new();
    assert_eq!(
        set(&mut d, "SaveOnClose", Input::Number(1.0)),
        type_error("Attempt to set SaveOnClose failed: Passed value is not a boolean")
    );
    assert_eq!(
        set(&mut d, "SaveOnClose", Input::Bool(false)),
        Ok(Assigned::Core)
    );
    let s = d.new_session("Player", "1");
    assert!(!d.m.session(s).unwrap().save_on_close());
}

#[test]
fn metadata_and_user_ids_must_be_tables_and_stay_with_the_host() {
    let mut d = Driver::new();
    for name in ["Metadata", "UserIds"] {
        assert_eq!(
            set(&mut d, name, Input::String),
            type_error(&format!(
                "Attempt to set {name} failed: Passed value is not a table"
            ))
        );
        assert_eq!(set(&mut d, name, Input::Table), Ok(Assigned::Host));
    }
}

#[test]
fn value_and_custom_fields_take_anything_and_stay_with_the_host() {
    let mut d = Driver::new();
    for input in [
        Input::Nil,
        Input::Number(f64::NAN),
        Input::Other,
        Input::Table,
    ] {
        assert_eq!(set(&mut d, "Value", input), Ok(Assigned::Host));
        assert_eq!(set(&mut d, "Leaderstats", input), Ok(Assigned::Host));
    }
}

#[test]
fn read_only_properties_and_signals_cannot_be_assigned() {
    let mut d = Driver::new();
    for name in READ_ONLY {
        assert_eq!(
            set(&mut d, name, Input::Number(1.0)),
            Err((
                PropertyErrorKind::ReadOnly,
                "Attempt to modify a readonly value".into()
            )),
            "{name}"
        );
    }
}

#[test]
fn method_names_cannot_be_assigned_d12() {
    let mut d = Driver::new();
    assert_eq!(METHODS.len(), 10);
    for name in METHODS {
        assert_eq!(
            set(&mut d, name, Input::Other),
            Err((
                PropertyErrorKind::ReadOnly,
                "Attempt to modify a readonly value".into()
            )),
            "{name}"
        );
    }
}

#[test]
fn a_rejected_assignment_changes_nothing() {
    let mut d = Driver::new();
    let s = d.new_session("Player", "1");
    let _ =
        d.m.set_property(d.now, s, "SaveInterval", Input::Number(5.0));
    let _ =
        d.m.set_property(d.now, s, "LockAttempts", Input::Number(f64::NAN));
    let session = d.m.session(s).unwrap();
    assert_eq!(session.save_interval(), 30.0);
    assert_eq!(session.lock_attempts(), 5.0);
}
