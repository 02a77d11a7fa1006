"""A real, private, single-node Slurm cluster for tests (munged + slurmctld + slurmd, as root).

Everything lives in one folder: its own munge key and socket, its own slurm.conf, state, spool, logs
and two free TCP ports, so nothing under /etc is touched and two clusters (two xdist workers, two CI
jobs on one host) never see each other. Clients find the cluster through ``SLURM_CONF`` only
(``LocalSlurm.env``); jobs inherit the submitting environment, so ``srun``/``scontrol`` run inside a
job (as submitit does) reach the same cluster.

Usage::

    import slurm_cluster

    slurm = slurm_cluster.slurm  # the session fixture (a plain import would trip ruff's F811)

    def test_x(slurm):
        subprocess.run(["sbatch", "--wrap", "hostname"], env=slurm.env, check=True)

or, outside pytest::

    with LocalSlurm() as cluster:
        cluster.start(folder)
        ...
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

#: Client and daemon binaries a test cluster needs (Debian: ``apt-get install -y slurm-wlm munge``).
BINARIES = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "scontrol", "scancel")
INSTALL_HINT = "apt-get install -y slurm-wlm munge"

#: Memory (MB) kept back from Slurm: a node configured with more memory than slurmd finds is drained.
MEMORY_MARGIN_MB = 512
#: A unix socket path must fit in sockaddr_un.sun_path (108 bytes on Linux, NUL included).
MAX_SOCKET_PATH = 107
#: Seconds a job credential lives. Slurm holds a requeued job for this long (+1 s) before it may start
#: again, since a revoked credential must have expired first (an earlier start fails "Job credential
#: revoked"). The default 120 s would make every requeue test wait two minutes.
CRED_EXPIRE = 10


def _which(name: str) -> str | None:
    # Debian puts the daemons in /usr/sbin, which a non-login root shell (CI, docker exec) may lack.
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def slurm_available() -> tuple[bool, str]:
    """Whether a ``LocalSlurm`` can start here, and the reason when it cannot."""
    missing = [name for name in BINARIES if _which(name) is None]
    if missing:
        return False, f"slurm-wlm not installed (missing {', '.join(missing)}): {INSTALL_HINT}"
    if os.geteuid() != 0:
        # slurmd must be root to start job steps as their owner (setuid, spool ownership).
        return False, "a local Slurm cluster needs root (slurmd runs jobs as their owner)"
    return True, ""


def _free_ports(count: int) -> list[int]:
    # Keep every socket open until all are picked so the kernel hands out distinct ports. Another process
    # could still take one before slurmctld binds it; that shows up as a start error naming the port.
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _total_memory_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("no MemTotal in /proc/meminfo")


def _tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except OSError as e:
        return f"({e})"
    return "\n".join(text[-lines:]) or "(empty)"


def _die_with_parent() -> None:
    # Runs in the child before exec: the kernel sends SIGTERM to the daemon when the test process dies,
    # even by SIGKILL or a CI timeout, so a crashed session cannot leave a cluster behind. (Strictly: when
    # the starting *thread* ends, so start the cluster from the main thread or one that lives as long.)
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie is dead, only waiting for its parent to reap it


def _processes_with_conf(conf: Path) -> list[int]:
    """Live processes started under the cluster of ``conf``: all carry ``SLURM_CONF=conf`` in their environment."""
    marker = f"SLURM_CONF={conf}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # exited meanwhile, or a kernel thread
    return [pid for pid in found if _alive(pid)]


def _terminate(pids: list[int], grace: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        pids = [p for p in pids if _alive(p)]
        if not pids:
            return


def _watchdog(conf: Path, parent: int) -> None:
    """Sweep the cluster's processes once the test process is gone (run as ``python slurm_cluster.py``).

    The daemons die with the test process by themselves (PR_SET_PDEATHSIG), but running job steps do
    not: slurmstepd and the job's own processes are grandchildren of slurmd and would run on, orphaned.
    """
    signal.signal(signal.SIGTERM, lambda *_: None)  # only to wake up from pause()
    if os.getppid() == parent:  # else the parent died before our death signal was armed
        signal.pause()
    time.sleep(0.5)  # let the daemons act on their own SIGTERM first
    # Short grace: nobody waits for these results any more, and submitit jobs ignore SIGTERM anyway.
    _terminate(_processes_with_conf(conf), 2.0)


class LocalSlurm:
    """One private Slurm cluster: ``start(folder)`` brings it up, ``stop()`` takes every process down.

    The daemons run in the foreground as children of this process: they are reaped here, and die with it.
    ``extra_config`` lines are appended to slurm.conf (a later key wins), e.g. ``"MinJobAge=10"``.
    """

    partition = "debug"

    def __init__(self, extra_config: str = "", timeout: float = 30.0):
        self.extra_config = extra_config
        self.timeout = timeout
        self.folder: Path | None = None
        self.hostname = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        self.memory_mb = 0
        self.ports: list[int] = []
        self.start_seconds = 0.0
        self._procs: dict[str, subprocess.Popen] = {}

    def _path(self, *parts: str) -> Path:
        if self.folder is None:
            raise RuntimeError("LocalSlurm.start(folder) was not called")
        return self.folder.joinpath(*parts)

    @property
    def conf(self) -> Path:
        return self._path("slurm.conf")

    @property
    def env(self) -> dict[str, str]:
        """The environment for clients (sbatch, squeue, submitit): the current one plus ``SLURM_CONF``."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    # -- start -------------------------------------------------------------------------------

    def start(self, folder: str | os.PathLike) -> LocalSlurm:
        """Write key and config under ``folder``, start the three daemons, wait until the node is idle.

        Raises RuntimeError naming the failing command with the end of its logs; nothing is left running then.
        """
        ok, reason = slurm_available()
        if not ok:
            raise RuntimeError(reason)
        if self.folder is not None:
            raise RuntimeError(f"this LocalSlurm already ran in {self.folder}; make a new one")
        self.folder = Path(folder).resolve()
        began = time.monotonic()
        try:
            self._write_files()
            # Kills this cluster's job processes should this process die without calling stop() (see _watchdog).
            self._procs["watchdog"] = subprocess.Popen(
                [sys.executable, __file__, "--watchdog", str(self.conf), str(os.getpid())],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            sock = self._path("mungerun", "munge.sock")
            self._start_daemon(
                "munged",
                [
                    "--foreground",
                    "--force",  # don't refuse over a parent folder's permissions (e.g. a group-writable /tmp)
                    f"--key-file={self._path('munge.key')}",
                    f"--socket={sock}",
                    f"--pid-file={self._path('mungerun', 'munged.pid')}",
                    f"--log-file={self._path('log', 'munged.log')}",
                    f"--seed-file={self._path('mungerun', 'munged.seed')}",
                ],
            )
            # slurmctld authenticates its first RPCs at once: munged must be listening before it starts.
            self._wait_for(lambda: sock.is_socket(), "munged", f"its socket {sock}")
            self._start_daemon("slurmctld", ["-D"])
            self._start_daemon("slurmd", ["-D"])
            self._wait_idle()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began
        return self

    def _write_files(self) -> None:
        for sub in ("log", "state", "spool", "run", "mungerun"):
            self._path(sub).mkdir(parents=True, exist_ok=True)
        sock = str(self._path("mungerun", "munge.sock"))
        if len(sock.encode()) > MAX_SOCKET_PATH:
            raise RuntimeError(f"munge socket path too long for a unix socket ({len(sock)} bytes): {sock}; use a shorter folder")
        # munged refuses a key that others can read: create it 0600 rather than chmod afterwards.
        fd = os.open(self._path("munge.key"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(1024))
        self.ports = _free_ports(2)
        self.memory_mb = max(256, _total_memory_mb() - MEMORY_MARGIN_MB)
        d = self.folder
        conf = f"""\
# Written by tests/slurm_cluster.py: a private single-node cluster; nothing here is shared with /etc.
ClusterName=wsbench
SlurmctldHost={self.hostname}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
# Daemons and every client (also srun inside jobs) talk through this cluster's own munged.
AuthInfo=socket={sock},cred_expire={CRED_EXPIRE}
SlurmctldPort={self.ports[0]}
SlurmdPort={self.ports[1]}
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/run/slurmctld.pid
SlurmdPidFile={d}/run/slurmd.pid
SlurmctldLogFile={d}/log/slurmctld.log
SlurmdLogFile={d}/log/slurmd.log
# No cgroups without systemd (containers, CI): track job processes by parentage, bind nothing.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Without a default a job asking no memory gets the whole node, and jobs would run one at a time.
DefMemPerCPU={max(64, self.memory_mb // self.cpus)}
# Trust the node line below even where the detected hardware differs (cpusets, hyperthreads) instead of draining.
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
JobCompType=jobcomp/none
# No slurmdbd, so sacct fails: submitit then reports every state as UNKNOWN (results still arrive).
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
# A job that becomes eligible later (a requeued job, --begin) only starts at the next scheduler pass:
# 60 s (main) and 30 s (backfill) by default. On one tiny node short intervals cost nothing.
SchedulerParameters=sched_interval=2,bf_interval=2
# Short grace between SIGTERM and SIGKILL: a cancelled submitit job ignores SIGTERM, so this is how long it lingers.
KillWait=5
NodeName={self.hostname} CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName={self.partition} Nodes={self.hostname} Default=YES MaxTime=INFINITE State=UP
"""
        if self.extra_config:
            conf += self.extra_config.rstrip("\n") + "\n"
        self.conf.write_text(conf)

    def _start_daemon(self, name: str, args: list[str]) -> None:
        argv = [str(_which(name)), *args]
        out = open(self._path("log", f"{name}.out"), "ab")  # early errors (bad config) land here, not in the log
        try:
            self._procs[name] = subprocess.Popen(
                argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C meant for pytest must not kill the daemons before stop() cancels jobs.
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        finally:
            out.close()

    def _check_running(self) -> None:
        for proc in self._procs.values():
            if proc.poll() is not None:
                raise RuntimeError(f"`{' '.join(proc.args)}` exited with code {proc.returncode}\n{self._logs()}")

    def _wait_for(self, ready, name: str, what: str) -> None:
        deadline = time.monotonic() + self.timeout
        while not ready():
            self._check_running()
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"`{' '.join(self._procs[name].args)}` gave no {what} within {self.timeout:.0f} s\n{self._logs()}"
                )
            time.sleep(0.05)

    def _wait_idle(self) -> None:
        state = ""

        def idle() -> bool:
            nonlocal state
            proc = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env, capture_output=True, text=True, timeout=10)
            state = (proc.stdout.strip() or proc.stderr.strip()).lower()
            if proc.returncode == 0 and state == "idle":
                return True
            time.sleep(0.25)
            return False

        try:
            self._wait_for(idle, "slurmd", "idle node")
        except RuntimeError as e:
            node = subprocess.run(["scontrol", "show", "node"], env=self.env, capture_output=True, text=True, timeout=10)
            raise RuntimeError(
                f"{e}\n`sinfo -h -o %T` says {state!r}; `scontrol show node`:\n{node.stdout or node.stderr}"
            ) from None

    def _logs(self) -> str:
        parts = []
        for name in ("slurmctld", "slurmd", "munged"):
            for log in (self._path("log", f"{name}.log"), self._path("log", f"{name}.out")):
                if log.exists() and log.stat().st_size:
                    parts.append(f"--- {log} ---\n{_tail(log)}")
        return "\n".join(parts) or f"(no logs in {self._path('log')})"

    # -- stop --------------------------------------------------------------------------------

    def stop(self, grace: float = 5.0) -> None:
        """Cancel all jobs, stop the daemons (SIGTERM, SIGKILL after ``grace`` s) and any stray job process.

        Safe to call twice, or after a failed start.
        """
        if self.folder is None or not self.conf.exists():
            return
        self._cancel_jobs()
        # slurmd first (it owns the job steps), munged last (the others need it to shut down cleanly).
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.pop(name, None)
            if proc is None:
                continue
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        # Job steps outlive slurmd (slurmstepd and the job's own processes, reparented to pid 1). Everything
        # this cluster started carries our SLURM_CONF in its initial environment, which is how we find them.
        _terminate(_processes_with_conf(self.conf), grace)
        watchdog = self._procs.pop("watchdog", None)
        if watchdog is not None:
            watchdog.kill()
            watchdog.wait()

    def _cancel_jobs(self) -> None:
        ctld = self._procs.get("slurmctld")
        if ctld is None or ctld.poll() is not None:
            return
        run = dict(env=self.env, capture_output=True, text=True, timeout=10)
        try:
            jobs = subprocess.run(["squeue", "-h", "-o", "%A"], **run).stdout.split()
            if not jobs:
                return
            # Drop pending jobs first (so none starts on the cores freed next), then SIGKILL the running ones:
            # nobody waits for their results any more. A job step run by srun (every submitit job) still
            # stays COMPLETING for KillWait (5 s); a plain batch job ends at once.
            subprocess.run(["scancel", "--state=PENDING", *jobs], **run)
            subprocess.run(["scancel", "--full", "--signal=KILL", *jobs], **run)
            deadline = time.monotonic() + 10
            while jobs and time.monotonic() < deadline:
                time.sleep(0.25)
                jobs = subprocess.run(["squeue", "-h", "-o", "%A"], **run).stdout.split()
        except (OSError, subprocess.TimeoutExpired):
            pass  # the daemons are stopped next regardless; leftover job processes are swept after them

    def __enter__(self) -> LocalSlurm:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def slurm(tmp_path_factory):
    """A started ``LocalSlurm`` for the whole session, with ``SLURM_CONF`` set in ``os.environ`` meanwhile.

    Skips when Slurm is not installed or we are not root. Under xdist each worker gets its own cluster.
    """
    ok, reason = slurm_available()
    if not ok:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    if len(str(folder / "mungerun" / "munge.sock")) > MAX_SOCKET_PATH:
        # pytest's base temp folder can be deep (--basetemp); the munge socket needs a short path.
        folder = Path(tempfile.mkdtemp(prefix="slurm-"))
    old = os.environ.get("SLURM_CONF")
    with LocalSlurm() as cluster:
        cluster.start(folder)
        os.environ["SLURM_CONF"] = str(cluster.conf)
        try:
            yield cluster
        finally:
            if old is None:
                os.environ.pop("SLURM_CONF", None)
            else:
                os.environ["SLURM_CONF"] = old


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--watchdog":
        _watchdog(Path(sys.argv[2]), int(sys.argv[3]))
    else:
        sys.exit(f"usage: {sys.argv[0]} --watchdog SLURM_CONF PARENT_PID (started by LocalSlurm.start)")
