//! Process hardening shared by both services: no core dumps. A core dump of a
//! service holds whatever was in memory when it crashed: a share, an AES key
//! of a request in flight, TLS keys. [`disable_core_dumps`] sets the core-size
//! limit to zero and marks the process non-dumpable (which also keeps
//! same-user processes from attaching with ptrace or reading its memory
//! through /proc).

/// Disables core dumps for this process (and its children for the limit).
///
/// # Errors
/// The kernel refused (the service should not start: it was asked to be safe).
pub fn disable_core_dumps() -> std::io::Result<()> {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    setrlimit(Resource::Core, Rlimit { current: Some(0), maximum: Some(0) })?;
    set_dumpable_behavior(DumpableBehavior::NotDumpable)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use rustix::process::{DumpableBehavior, Resource, dumpable_behavior, getrlimit};

    /// Issue 15 §6: after the call, no core file can be written.
    #[test]
    fn core_dumps_are_disabled() {
        super::disable_core_dumps().unwrap();
        assert_eq!(getrlimit(Resource::Core).current, Some(0));
        assert_eq!(dumpable_behavior().unwrap(), DumpableBehavior::NotDumpable);
    }
}
