//! The seccomp filters every sandboxed process runs under.
//!
//! Four filters are loaded one after the other; the kernel runs every one on each system call and
//! the most restrictive answer wins, so each filter only has to say "refused" for its own concern:
//!
//! 1. the deny list ([`DENIED`], namespace flags on `clone`): EPERM;
//! 2. `clone3`: ENOSYS, so that the C library falls back to `clone`, whose flags filter 1 inspects
//!    (`clone3` passes them in memory, out of a filter's reach);
//! 3. `socket` and `socketpair` with an address family other than [`SOCKET_FAMILIES`]:
//!    EAFNOSUPPORT, which is what a kernel built without that family answers, so programs that
//!    probe for one (vsock, packet, alg, ...) take their usual fallback;
//! 4. (x86_64) every x32 system call: EPERM.
//!
//! Why filter 4 is written by hand: an x32 call arrives with the same `AUDIT_ARCH_X86_64` as a
//! native one but with bit 30 (`__X32_SYSCALL_BIT`, 0x4000_0000) set in its number, and it reaches
//! the same kernel code (x32 `mount` is 0x4000_00a5). seccompiler checks the architecture and then
//! compares numbers exactly, so in filters 1 to 3 such a number matches no rule and falls to
//! their default, Allow: on a kernel built with x32 support every denied call would be one bit
//! away. seccompiler has no "bit set" comparison on the number, so filter 4 is six BPF
//! instructions (architecture check, load the number, `jset` the bit) kept in its own program
//! rather than spliced into seccompiler's output (`tests/isolation.rs` runs it against a
//! real x32 number). Filters 1 to 3 kill the process on any other architecture (32-bit `int 0x80`
//! calls come as `AUDIT_ARCH_I386`), so filter 4 lets those pass to them.

use crate::{Result, SandboxError};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use std::collections::BTreeMap;

/// System calls refused with EPERM: they change the system, other processes or namespaces.
const DENIED: &[libc::c_long] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_reboot,
    libc::SYS_acct,
    libc::SYS_perf_event_open,
    libc::SYS_open_by_handle_at,
    libc::SYS_name_to_handle_at,
    libc::SYS_userfaultfd,
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_adjtimex,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_iopl,
    libc::SYS_ioperm,
    libc::SYS_quotactl,
    libc::SYS_lookup_dcookie,
    libc::SYS_fsopen,
    libc::SYS_fsmount,
    libc::SYS_fsconfig,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    // io_uring performs reads, writes, connects and more from kernel threads, outside what the
    // rest of this filter sees; runtimes that try it fall back to ordinary calls.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

/// Address families `socket` and `socketpair` may use: local sockets, IPv4, IPv6 and netlink
/// (which the C library's name resolution and interface listing use).
pub const SOCKET_FAMILIES: &[libc::c_int] = &[
    libc::AF_UNIX,
    libc::AF_INET,
    libc::AF_INET6,
    libc::AF_NETLINK,
];

/// `clone` flags that create namespaces.
const NAMESPACE_FLAGS: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWCGROUP as u64,
];

fn arch() -> Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SandboxError::Seccomp(format!("{e:?}")))
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, action: SeccompAction) -> Result<BpfProgram> {
    let filter = SeccompFilter::new(rules, SeccompAction::Allow, action, arch()?)
        .map_err(|e| SeccompError(e.to_string()).into_err())?;
    filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| SandboxError::Seccomp(e.to_string()))
}

struct SeccompError(String);
impl SeccompError {
    fn into_err(self) -> SandboxError {
        SandboxError::Seccomp(self.0)
    }
}

/// Refuses `socket` and `socketpair` unless the family (first argument) is one of
/// [`SOCKET_FAMILIES`]: one rule whose conditions (all must hold) say "none of them".
fn socket_families() -> Result<BpfProgram> {
    let not_allowed = SOCKET_FAMILIES
        .iter()
        .map(|&family| {
            SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, family as u64)
                .map_err(|e| SandboxError::Seccomp(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    let rule = SeccompRule::new(not_allowed).map_err(|e| SandboxError::Seccomp(e.to_string()))?;
    compile(
        BTreeMap::from([
            (libc::SYS_socket, vec![rule.clone()]),
            (libc::SYS_socketpair, vec![rule]),
        ]),
        SeccompAction::Errno(libc::EAFNOSUPPORT as u32),
    )
}

/// `__X32_SYSCALL_BIT`: set in the number of every x32 system call.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// `AUDIT_ARCH_X86_64` (`EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE`).
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;

/// Refuses every x32 system call (see the module documentation for why this is hand-written).
#[cfg(target_arch = "x86_64")]
fn x32_calls() -> BpfProgram {
    use seccompiler::sock_filter;
    // Offsets in `struct seccomp_data`: `int nr` at 0, `__u32 arch` at 4.
    const NR: u32 = 0;
    const ARCH: u32 = 4;
    let op = |code: u32, k: u32, jt: u8, jf: u8| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    let load = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    vec![
        op(load, ARCH, 0, 0),
        // Another architecture: not this filter's business (skip to allow).
        op(
            libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K,
            AUDIT_ARCH_X86_64,
            0,
            3,
        ),
        op(load, NR, 0, 0),
        // The x32 bit set: refuse; else allow.
        op(
            libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K,
            X32_SYSCALL_BIT,
            0,
            1,
        ),
        op(
            libc::BPF_RET | libc::BPF_K,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
            0,
            0,
        ),
        op(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW, 0, 0),
    ]
}

/// The programs to load, in the order of the module documentation.
pub fn programs() -> Result<Vec<BpfProgram>> {
    let mut deny: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED.iter().map(|&s| (s, Vec::new())).collect();
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
            .map_err(|e| SandboxError::Seccomp(e.to_string()))
        })
        .collect::<Result<Vec<_>>>()?;
    deny.insert(libc::SYS_clone, clone_rules);
    let deny = compile(deny, SeccompAction::Errno(libc::EPERM as u32))?;
    let clone3 = compile(
        BTreeMap::from([(libc::SYS_clone3, Vec::new())]),
        SeccompAction::Errno(libc::ENOSYS as u32),
    )?;
    #[allow(unused_mut)]
    let mut programs = vec![deny, clone3, socket_families()?];
    #[cfg(target_arch = "x86_64")]
    programs.push(x32_calls());
    Ok(programs)
}
