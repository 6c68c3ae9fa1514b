//! Caps glibc's malloc arenas at the number of cores: the process starts itself over once
//! with `MALLOC_ARENA_MAX` set, which glibc reads only as a process starts (`mallopt` would
//! need unsafe code, which the workspace forbids).
//!
//! Why: glibc gives each new thread an arena of its own, up to eight per core, and an arena
//! keeps what was freed in it. A check allocates its rows on the runtime's workers, SQLite
//! parses them on each connection's thread, and every arena grows to its own high-water
//! mark: with the default, a 100,000-member `bench sync` peaked at 132 MB; with the arenas
//! capped at the two cores, 99 MB, with first checks no slower. A value already in the
//! environment is kept, so whoever runs Castellan can choose another.

/// Runs the process again with the arenas capped, unless already capped; returns only when
/// it does not (another C library, a value already set, or the executable not found).
pub(crate) fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const VAR: &str = "MALLOC_ARENA_MAX";
        if std::env::var_os(VAR).is_some() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get().max(2));
        let mut args = std::env::args_os();
        let mut cmd = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        // `exec` returns only if it failed (say the binary was replaced on disk): the process
        // then runs on with glibc's default arenas.
        let err = cmd.args(args).env(VAR, cores.to_string()).exec();
        eprintln!("castellan: running with glibc's default malloc arenas ({err})");
    }
}
