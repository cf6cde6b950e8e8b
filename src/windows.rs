//! Windows: the Job Object that holds a wrapped rustc and every process it starts (the linker
//! included), and the memory the machine has available. All of memsafe's Win32 FFI is here,
//! declared by hand (no bindings crate), with every struct's size, alignment and the offsets
//! memsafe reads asserted at compile time for 64-bit and 32-bit Windows.
//!
//! A job's memory is commit charge: the private memory the system has committed for its
//! processes, which is what job accounting tracks (not the working set).

use std::ffi::c_void;
use std::io;
use std::mem::{align_of, offset_of, size_of};
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::process::{Child, Command};
use std::ptr;

type Handle = *mut c_void;
type Bool = i32;

/// `CREATE_SUSPENDED` (process creation flags): the main thread starts suspended.
const CREATE_SUSPENDED: u32 = 0x0000_0004;
/// `JobObjectBasicProcessIdList` (`JOBOBJECTINFOCLASS`, winnt.h).
const JOB_OBJECT_BASIC_PROCESS_ID_LIST: i32 = 3;
/// `JobObjectExtendedLimitInformation` (`JOBOBJECTINFOCLASS`, winnt.h).
const JOB_OBJECT_EXTENDED_LIMIT_INFORMATION: i32 = 9;
/// `PROCESS_QUERY_LIMITED_INFORMATION` (process access rights): enough for
/// `K32GetProcessMemoryInfo`.
const PROCESS_QUERY_LIMITED_INFORMATION: u32 = 0x1000;

/// `JOBOBJECT_BASIC_LIMIT_INFORMATION` (winnt.h).
#[repr(C)]
#[derive(Default)]
struct JobObjectBasicLimitInformation {
    per_process_user_time_limit: i64,
    per_job_user_time_limit: i64,
    limit_flags: u32,
    minimum_working_set_size: usize,
    maximum_working_set_size: usize,
    active_process_limit: u32,
    affinity: usize,
    priority_class: u32,
    scheduling_class: u32,
}

/// `IO_COUNTERS` (winnt.h).
#[repr(C)]
#[derive(Default)]
struct IoCounters {
    read_operation_count: u64,
    write_operation_count: u64,
    other_operation_count: u64,
    read_transfer_count: u64,
    write_transfer_count: u64,
    other_transfer_count: u64,
}

/// `JOBOBJECT_EXTENDED_LIMIT_INFORMATION` (winnt.h).
#[repr(C)]
#[derive(Default)]
struct JobObjectExtendedLimitInformation {
    basic_limit_information: JobObjectBasicLimitInformation,
    io_info: IoCounters,
    process_memory_limit: usize,
    job_memory_limit: usize,
    peak_process_memory_used: usize,
    peak_job_memory_used: usize,
}

/// How many process ids [`Job::bytes_in_use`] reads: more than a rustc, its linker and their
/// helpers ever are.
const MAX_PROCESSES: usize = 256;

/// `JOBOBJECT_BASIC_PROCESS_ID_LIST` (winnt.h), which C declares with a one-element array and
/// callers allocate larger: here with room for [`MAX_PROCESSES`] ids.
#[repr(C)]
struct JobObjectBasicProcessIdList {
    number_of_assigned_processes: u32,
    number_of_process_ids_in_list: u32,
    process_id_list: [usize; MAX_PROCESSES],
}

/// `PROCESS_MEMORY_COUNTERS` (psapi.h).
#[repr(C)]
#[derive(Default)]
struct ProcessMemoryCounters {
    cb: u32,
    page_fault_count: u32,
    peak_working_set_size: usize,
    working_set_size: usize,
    quota_peak_paged_pool_usage: usize,
    quota_paged_pool_usage: usize,
    quota_peak_non_paged_pool_usage: usize,
    quota_non_paged_pool_usage: usize,
    /// The process's commit charge.
    pagefile_usage: usize,
    peak_pagefile_usage: usize,
}

/// `MEMORYSTATUSEX` (sysinfoapi.h).
#[repr(C)]
#[derive(Default)]
struct MemoryStatusEx {
    length: u32,
    memory_load: u32,
    total_phys: u64,
    avail_phys: u64,
    total_page_file: u64,
    avail_page_file: u64,
    total_virtual: u64,
    avail_virtual: u64,
    avail_extended_virtual: u64,
}

// The layouts of the Windows SDK headers (`sizeof` and `offsetof` in C). `LARGE_INTEGER` and
// `ULONGLONG` are 8-aligned on 32-bit Windows too, unlike on 32-bit Linux.
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<JobObjectBasicLimitInformation>() == 64);
    assert!(align_of::<JobObjectBasicLimitInformation>() == 8);
    assert!(size_of::<IoCounters>() == 48);
    assert!(align_of::<IoCounters>() == 8);
    assert!(size_of::<JobObjectExtendedLimitInformation>() == 144);
    assert!(align_of::<JobObjectExtendedLimitInformation>() == 8);
    assert!(offset_of!(JobObjectExtendedLimitInformation, peak_job_memory_used) == 136);
    assert!(size_of::<JobObjectBasicProcessIdList>() == 8 + 8 * MAX_PROCESSES);
    assert!(align_of::<JobObjectBasicProcessIdList>() == 8);
    assert!(offset_of!(JobObjectBasicProcessIdList, process_id_list) == 8);
    assert!(size_of::<ProcessMemoryCounters>() == 72);
    assert!(align_of::<ProcessMemoryCounters>() == 8);
    assert!(offset_of!(ProcessMemoryCounters, pagefile_usage) == 56);
    assert!(size_of::<MemoryStatusEx>() == 64);
    assert!(align_of::<MemoryStatusEx>() == 8);
    assert!(offset_of!(MemoryStatusEx, avail_phys) == 16);
};

#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(size_of::<JobObjectBasicLimitInformation>() == 48);
    assert!(align_of::<JobObjectBasicLimitInformation>() == 8);
    assert!(size_of::<IoCounters>() == 48);
    assert!(align_of::<IoCounters>() == 8);
    assert!(size_of::<JobObjectExtendedLimitInformation>() == 112);
    assert!(align_of::<JobObjectExtendedLimitInformation>() == 8);
    assert!(offset_of!(JobObjectExtendedLimitInformation, peak_job_memory_used) == 108);
    assert!(size_of::<JobObjectBasicProcessIdList>() == 8 + 4 * MAX_PROCESSES);
    assert!(align_of::<JobObjectBasicProcessIdList>() == 4);
    assert!(offset_of!(JobObjectBasicProcessIdList, process_id_list) == 8);
    assert!(size_of::<ProcessMemoryCounters>() == 40);
    assert!(align_of::<ProcessMemoryCounters>() == 4);
    assert!(offset_of!(ProcessMemoryCounters, pagefile_usage) == 32);
    assert!(size_of::<MemoryStatusEx>() == 64);
    assert!(align_of::<MemoryStatusEx>() == 8);
    assert!(offset_of!(MemoryStatusEx, avail_phys) == 16);
};

#[link(name = "kernel32")]
unsafe extern "system" {
    fn CreateJobObjectW(job_attributes: *const c_void, name: *const u16) -> Handle;
    fn AssignProcessToJobObject(job: Handle, process: Handle) -> Bool;
    fn QueryInformationJobObject(
        job: Handle,
        class: i32,
        information: *mut c_void,
        length: u32,
        return_length: *mut u32,
    ) -> Bool;
    fn CloseHandle(object: Handle) -> Bool;
    fn OpenProcess(desired_access: u32, inherit_handle: Bool, process_id: u32) -> Handle;
    fn K32GetProcessMemoryInfo(process: Handle, counters: *mut ProcessMemoryCounters, size: u32) -> Bool;
    fn GlobalMemoryStatusEx(buffer: *mut MemoryStatusEx) -> Bool;
}

// Imported by name from ntdll.dll itself (`raw-dylib`), so that linking needs no import
// library that lists it; ntdll exports it undecorated, as 32-bit x86 must be told.
#[cfg_attr(not(target_arch = "x86"), link(name = "ntdll", kind = "raw-dylib"))]
#[cfg_attr(
    target_arch = "x86",
    link(name = "ntdll", kind = "raw-dylib", import_name_type = "undecorated")
)]
unsafe extern "system" {
    /// Resumes every thread of a process. Not in the Win32 documentation, but exported by
    /// ntdll.dll since Windows XP and implemented by Wine. Returns an NTSTATUS: negative on
    /// failure.
    fn NtResumeProcess(process: Handle) -> i32;
}

/// A Job Object, closed on drop. Closing it does not end the processes in it.
pub(crate) struct Job(Handle);

// SAFETY: a job handle is a kernel object handle, usable and closable from any thread; `Job`
// hands out no reference to memory behind it.
unsafe impl Send for Job {}
// SAFETY: as above; `QueryInformationJobObject` may be called from several threads at once.
unsafe impl Sync for Job {}

impl Job {
    fn new() -> io::Result<Job> {
        // SAFETY: no security attributes (the defaults) and no name: an anonymous job.
        let handle = unsafe { CreateJobObjectW(ptr::null(), ptr::null()) };
        if handle.is_null() {
            return Err(io::Error::last_os_error());
        }
        Ok(Job(handle))
    }

    /// Fills `information` with the job's information of class `class`; `false` on failure
    /// (Windows refuses a buffer of the wrong length for the class).
    fn query<T>(&self, class: i32, information: &mut T) -> bool {
        let Ok(length) = u32::try_from(size_of::<T>()) else {
            return false;
        };
        // SAFETY: the job handle is open; `information` is valid for writes of `length` bytes;
        // the returned length is optional (null).
        let ok = unsafe {
            QueryInformationJobObject(
                self.0,
                class,
                ptr::from_mut(information).cast(),
                length,
                ptr::null_mut(),
            )
        };
        ok != 0
    }

    /// The most memory the job's processes had committed at once, so far (live while they
    /// run, and kept after they exit, as long as the job is open).
    pub(crate) fn peak_bytes(&self) -> Option<u64> {
        let mut information = JobObjectExtendedLimitInformation::default();
        self.query(JOB_OBJECT_EXTENDED_LIMIT_INFORMATION, &mut information)
            .then(|| u64::try_from(information.peak_job_memory_used).unwrap_or(u64::MAX))
    }

    /// The memory the job's processes have committed now: the sum of their commit charge.
    /// `None` when the job's process list cannot be read (more than [`MAX_PROCESSES`]).
    pub(crate) fn bytes_in_use(&self) -> Option<u64> {
        let mut list = JobObjectBasicProcessIdList {
            number_of_assigned_processes: 0,
            number_of_process_ids_in_list: 0,
            process_id_list: [0; MAX_PROCESSES],
        };
        if !self.query(JOB_OBJECT_BASIC_PROCESS_ID_LIST, &mut list) {
            return None;
        }
        let listed = usize::try_from(list.number_of_process_ids_in_list).unwrap_or(0);
        let mut total: u64 = 0;
        for &id in &list.process_id_list[..listed.min(MAX_PROCESSES)] {
            let Ok(id) = u32::try_from(id) else { continue };
            // SAFETY: a plain call; null when the process has exited since it was listed.
            let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, id) };
            if process.is_null() {
                continue;
            }
            let mut counters = ProcessMemoryCounters {
                cb: u32::try_from(size_of::<ProcessMemoryCounters>()).unwrap_or(0),
                ..ProcessMemoryCounters::default()
            };
            // SAFETY: `process` is open; `counters` is valid for writes of `cb` bytes.
            let ok = unsafe { K32GetProcessMemoryInfo(process, &raw mut counters, counters.cb) };
            // SAFETY: `process` was opened above and is closed once.
            unsafe { CloseHandle(process) };
            if ok != 0 {
                total += u64::try_from(counters.pagefile_usage).unwrap_or(0);
            }
        }
        Some(total)
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        // SAFETY: the handle came from CreateJobObjectW and is closed once, here.
        unsafe { CloseHandle(self.0) };
    }
}

/// Starts `command` in a new Job Object. Every process it starts joins the job too (a child
/// process is created in its parent's job), so the job accounts for rustc and its linker.
///
/// So that nothing escapes the job, the process is created suspended, assigned to the job, and
/// only then resumed. Resuming needs its main thread, whose handle std closes and does not give
/// out: `NtResumeProcess` resumes the process, all its threads, through the process handle
/// std keeps; a process created suspended has only its main thread, so that is exactly the
/// thread `ResumeThread` would have resumed. (The documented way to the thread, a Toolhelp32
/// snapshot searched for the process's thread, then `OpenThread` and `ResumeThread`, takes four
/// more functions and a struct for the same result.)
///
/// Without a job (`CreateJobObjectW` or `AssignProcessToJobObject` failed), the process runs
/// all the same, and the job is `None`. If it cannot be resumed, it is ended and an error
/// comes back.
pub(crate) fn spawn_in_job(command: &mut Command) -> io::Result<(Child, Option<Job>)> {
    let Ok(job) = Job::new() else {
        return Ok((command.spawn()?, None));
    };
    let mut child = command.creation_flags(CREATE_SUSPENDED).spawn()?;
    let process: Handle = child.as_raw_handle().cast();
    // SAFETY: both handles are open: the job's is ours, the process's belongs to `child`
    // (CreateProcessW's handle, with all access rights).
    let assigned = unsafe { AssignProcessToJobObject(job.0, process) } != 0;
    // SAFETY: as above; the handle has PROCESS_SUSPEND_RESUME.
    let status = unsafe { NtResumeProcess(process) };
    if status < 0 {
        let _ = child.kill();
        let _ = child.wait();
        return Err(io::Error::other(format!(
            "cannot resume the process (NTSTATUS {:#010x})",
            status.cast_unsigned()
        )));
    }
    Ok((child, assigned.then_some(job)))
}

/// The physical memory available now, in bytes (`ullAvailPhys` of `GlobalMemoryStatusEx`).
pub(crate) fn available_memory() -> Option<u64> {
    let mut status = MemoryStatusEx {
        length: u32::try_from(size_of::<MemoryStatusEx>()).unwrap_or(0),
        ..MemoryStatusEx::default()
    };
    // SAFETY: `status` is valid for writes, its length field set as the function requires.
    let ok = unsafe { GlobalMemoryStatusEx(&raw mut status) };
    (ok != 0).then_some(status.avail_phys)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::process::Stdio;

    use super::*;

    /// cmd.exe in a job, reading its commands from a pipe: it waits for them, no sleep needed.
    fn cmd_in_a_job() -> (Child, Job) {
        let mut command = Command::new("cmd.exe");
        command
            .args(["/d", "/q"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let (child, job) = spawn_in_job(&mut command).unwrap();
        (child, job.expect("a job"))
    }

    fn exit_with(child: &mut Child, code: u8) -> Option<i32> {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(format!("exit {code}\r\n").as_bytes()).unwrap();
        drop(stdin);
        child.wait().unwrap().code()
    }

    #[test]
    fn a_process_runs_in_the_job_until_it_exits() {
        let (mut child, job) = cmd_in_a_job();
        let in_use = job.bytes_in_use().unwrap();
        assert!(in_use > 0, "cmd.exe commits memory: {in_use}");
        // It was resumed: it read the command and exited with its code.
        assert_eq!(exit_with(&mut child, 5), Some(5));
        assert_eq!(job.bytes_in_use(), Some(0), "nothing left in the job");
    }

    #[test]
    fn the_peak_is_live_and_outlives_the_process() {
        let (mut child, job) = cmd_in_a_job();
        let running = job.peak_bytes().unwrap();
        assert!(running > 0, "a peak while cmd.exe runs: {running}");
        assert_eq!(exit_with(&mut child, 0), Some(0));
        let after = job.peak_bytes().unwrap();
        assert!(
            after >= running,
            "the peak after exit, {after}, is below {running}"
        );
    }

    #[test]
    fn a_program_that_does_not_exist_is_an_error() {
        let mut command = Command::new("memsafe-no-such-program.exe");
        assert!(spawn_in_job(&mut command).is_err());
    }

    #[test]
    fn the_machine_has_memory_available() {
        assert!(available_memory().is_some_and(|bytes| bytes > 0));
    }
}
