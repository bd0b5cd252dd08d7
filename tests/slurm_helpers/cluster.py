"""A real one-node Slurm cluster from Debian's packages, all state in one folder.

    python tests/slurm_helpers/cluster.py up DIR     # start it, print the env to use, wait for Ctrl-C

Daemons: munged, mariadbd + slurmdbd (accounting: the Slurm executor plugin follows
its jobs through ``sacct``), slurmctld and slurmd, each started in the foreground by
this module and stopped by its pid. Needs root (slurmd starts jobs as the submitting
user) and the packages ``munge slurmctld slurmd slurm-client slurmdbd mariadb-server``.

The node's config is also linked at ``/run/slurm/conf``, where a configless slurmd
caches it on many real clusters: commands inside a job (the jobstep plugin's ``srun``,
whose environment it strips of ``SLURM_CONF``) find it there, as they find
``/etc/slurm/slurm.conf`` elsewhere. Nothing is written outside DIR except that link,
which is removed at the end. One such cluster per machine at a time.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PACKAGES = "munge slurmctld slurmd slurm-client slurmdbd mariadb-server"
BINARIES = ("munged", "mungekey", "mariadb-install-db", "mariadbd", "slurmdbd", "slurmctld", "slurmd",
            "sbatch", "srun", "sacct", "sinfo", "squeue", "scancel", "scontrol")
CONF_LINK = Path("/run/slurm/conf")  # where slurmd (configless) caches the config for the node's clients
FAKE_GPU_FILES = ("/dev/null", "/dev/zero", "/dev/full", "/dev/urandom")  # distinct char devices, no GPU
MARKER = "GANBENCH_SLURM_ROOT"  # in every daemon's environment: how teardown finds the job processes


class ClusterUnavailable(RuntimeError):
    """The machine cannot run the test cluster (not root, packages missing, ...)."""


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None)


def missing_reason() -> str | None:
    """Why this machine cannot start the cluster, or None when it can."""
    if os.geteuid() != 0:
        return "needs root (slurmd runs jobs as the submitting user; munged and slurmd run as root)"
    missing = [b for b in BINARIES if _which(b) is None]
    if missing:
        return (f"Slurm packages missing ({', '.join(missing)}); install them with "
                f"`apt-get install {PACKAGES}` or run `./ganbench test` as root")
    if CONF_LINK.exists() or CONF_LINK.is_symlink():
        return f"{CONF_LINK} exists: another configless slurmd runs on this machine"
    if Path("/etc/slurm/slurm.conf").exists():
        return "/etc/slurm/slurm.conf exists: jobs' commands would talk to that cluster, not the test's"
    return None


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _mem_mb() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 4096


class SlurmCluster:
    def __init__(self, root: Path, gpus: int = 0):
        """``gpus``: GPU gres on the node, backed by /dev/null when the machine has none, so that
        GPU requests (``--gpus=1``) are scheduled and CUDA_VISIBLE_DEVICES is set as on a GPU node."""
        self.root = Path(root).resolve()
        self.gpus = min(gpus, len(FAKE_GPU_FILES))
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.hostname = socket.gethostname().split(".")[0]
        self.cpus = os.cpu_count() or 1
        # Declared, not enforced (no cgroups): room for the profile's default requests on a small VM.
        self.mem_mb = max(int(_mem_mb() * 0.9), 64000)
        self.made_link = self.made_run_dir = False
        d = self.root
        self.etc, self.log, self.run = d / "etc", d / "log", d / "run"
        self.munge_sock = d / "munge" / "munge.sock"
        self.mysql_sock = d / "db" / "mysql.sock"
        self.conf = self.etc / "slurm.conf"

    # -- environment -----------------------------------------------------------------
    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for clients of this cluster (sbatch, sacct, snakemake)."""
        env = dict(os.environ if base is None else base)
        env["SLURM_CONF"] = str(self.conf)
        env[MARKER] = str(self.root)
        path = env.get("PATH", "")
        if "/usr/sbin" not in path.split(":"):
            env["PATH"] = path + ":/usr/sbin:/sbin"
        return env

    def _spawn(self, name: str, cmd: list[str]) -> subprocess.Popen:
        out = open(self.log / f"{name}.out", "ab")
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=self.env(), start_new_session=True, cwd=self.root)
        out.close()
        self.procs.append((name, proc))
        return proc

    def _wait(self, what: str, ok, timeout: float, proc: subprocess.Popen | None = None):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if ok():
                return
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{what}: the daemon exited with {proc.returncode}; {self._tail(what)}")
            time.sleep(0.2)
        raise RuntimeError(f"{what} not ready after {timeout:.0f} s; {self._tail(what)}")

    def _tail(self, name: str) -> str:
        texts = []
        for f in sorted(self.log.glob("*")):
            if f.is_file():
                lines = f.read_text(errors="replace").splitlines()[-15:]
                texts.append(f"--- {f.name}:\n" + "\n".join(lines))
        return "logs:\n" + "\n".join(texts)

    def _run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, env=self.env(), timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
        return proc

    # -- start -----------------------------------------------------------------------
    def start(self, timeout: float = 120) -> "SlurmCluster":
        reason = missing_reason()
        if reason:
            raise ClusterUnavailable(reason)
        for sub in ("etc", "log", "run", "munge", "db", "state", "spool"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        os.chmod(self.root / "munge", 0o755)
        self.ports = dict(zip(("ctld", "slurmd", "dbd", "mysql"), _free_ports(4)))
        try:
            self._start_munge(timeout)
            self._start_mariadb(timeout)
            self._write_configs()
            self._start_slurmdbd(timeout)
            self._start_slurmctld(timeout)
            self._start_slurmd(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start_munge(self, timeout):
        key = self.root / "munge" / "munge.key"
        self._run(_which("mungekey"), "--create", f"--keyfile={key}", "--force")
        os.chmod(key, 0o600)
        proc = self._spawn("munged", [
            _which("munged"), "--foreground", "--force", f"--socket={self.munge_sock}", f"--key-file={key}",
            f"--pid-file={self.run / 'munged.pid'}", f"--log-file={self.log / 'munged.log'}",
            f"--seed-file={self.root / 'munge' / 'munged.seed'}", "--num-threads=2"])
        self._wait("munged", self.munge_sock.exists, timeout, proc)

    def _start_mariadb(self, timeout):
        data = self.root / "db" / "data"
        self._run(_which("mariadb-install-db"), "--no-defaults", f"--datadir={data}", "--user=root",
                  "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve",
                  timeout=timeout)
        proc = self._spawn("mariadbd", [
            _which("mariadbd"), "--no-defaults", f"--datadir={data}", f"--socket={self.mysql_sock}",
            f"--port={self.ports['mysql']}", "--bind-address=127.0.0.1", "--skip-name-resolve", "--user=root",
            f"--pid-file={self.run / 'mariadbd.pid'}", f"--log-error={self.log / 'mariadbd.log'}",
            "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M", "--skip-log-bin",
            "--innodb-flush-log-at-trx-commit=2", "--innodb-lock-wait-timeout=900"])
        self._wait("mariadbd", self.mysql_sock.exists, timeout, proc)

    def _write_configs(self):
        r, p = self.root, self.ports
        auth = f"AuthType=auth/munge\nAuthInfo=socket={self.munge_sock}\n"
        dbd = self.etc / "slurmdbd.conf"
        dbd.write_text(
            auth +
            f"DbdAddr=127.0.0.1\nDbdHost=localhost\nDbdPort={p['dbd']}\nSlurmUser=root\n"
            f"PidFile={self.run / 'slurmdbd.pid'}\nLogFile={self.log / 'slurmdbd.log'}\n"
            f"StorageType=accounting_storage/mysql\nStorageHost=127.0.0.1\nStoragePort={p['mysql']}\n"
            "StorageUser=root\nStorageLoc=slurm_acct_db\n")
        os.chmod(dbd, 0o600)
        (self.etc / "plugstack.conf").write_text("")
        gres = ""
        if self.gpus:
            (self.etc / "gres.conf").write_text(
                "AutoDetect=off\n" + "".join(f"Name=gpu File={dev}\n" for dev in FAKE_GPU_FILES[:self.gpus]))
            gres = f" Gres=gpu:{self.gpus}"
        self.conf.write_text(
            f"ClusterName=ganbench\nSlurmctldHost={self.hostname}(127.0.0.1)\n"
            f"SlurmctldPort={p['ctld']}\nSlurmdPort={p['slurmd']}\n" + auth +
            "CredType=cred/munge\nSlurmUser=root\nSlurmdUser=root\n"
            f"StateSaveLocation={r / 'state'}\nSlurmdSpoolDir={r / 'spool'}\n"
            f"SlurmctldPidFile={self.run / 'slurmctld.pid'}\nSlurmdPidFile={self.run / 'slurmd.pid'}\n"
            f"SlurmctldLogFile={self.log / 'slurmctld.log'}\nSlurmdLogFile={self.log / 'slurmd.log'}\n"
            f"PlugStackConfig={self.etc / 'plugstack.conf'}\n"
            "ProctrackType=proctrack/linuxproc\nTaskPlugin=task/none\nMpiDefault=none\n"
            "SchedulerType=sched/backfill\nSelectType=select/cons_tres\nSelectTypeParameters=CR_CPU_Memory\n"
            f"AccountingStorageType=accounting_storage/slurmdbd\nAccountingStorageHost=127.0.0.1\n"
            f"AccountingStoragePort={p['dbd']}\nAccountingStoragePass={self.munge_sock}\n"
            "AccountingStoreFlags=job_comment\n"  # sacct shows the plugin's --comment (rule, wildcards)
            "JobAcctGatherType=jobacct_gather/none\nJobCompType=jobcomp/none\n"
            "SlurmdParameters=config_overrides\n"  # RealMemory below may exceed this machine's
            + ("GresTypes=gpu\nAccountingStorageTRES=gres/gpu\n" if self.gpus else "") +
            "ReturnToService=2\nMinJobAge=300\nSlurmdTimeout=60\nInactiveLimit=0\nKillWait=5\n"
            f"NodeName={self.hostname} NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.mem_mb}{gres} "
            "State=UNKNOWN\n"
            f"PartitionName=main Nodes={self.hostname} Default=YES MaxTime=INFINITE State=UP\n")

    def _start_slurmdbd(self, timeout):
        proc = self._spawn("slurmdbd", [_which("slurmdbd"), "-D"])

        def ready():
            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex(("127.0.0.1", self.ports["dbd"])) == 0

        self._wait("slurmdbd", ready, timeout, proc)

    def _start_slurmctld(self, timeout):
        proc = self._spawn("slurmctld", [_which("slurmctld"), "-D", "-i"])
        self._wait("slurmctld", lambda: self._run("scontrol", "ping", check=False).returncode == 0,
                   timeout, proc)

    def _start_slurmd(self, timeout):
        # The node's config where a configless slurmd caches it (/run/slurm/conf), which Slurm's
        # commands read when SLURM_CONF is unset (slurmd 22.05 cannot fetch it over a MUNGE
        # socket other than the default one, so the link is made here).
        self.made_run_dir = not CONF_LINK.parent.exists()
        CONF_LINK.parent.mkdir(parents=True, exist_ok=True)
        CONF_LINK.symlink_to(self.etc)
        self.made_link = True
        proc = self._spawn("slurmd", [_which("slurmd"), "-D"])

        def idle():
            out = self._run("sinfo", "-h", "-o", "%T", check=False).stdout.strip()
            return out.startswith("idle")

        self._wait("slurmd", idle, timeout, proc)

    # -- use -------------------------------------------------------------------------
    def sacct(self, *args: str) -> str:
        return self._run("sacct", *args).stdout

    # -- stop ------------------------------------------------------------------------
    def _job_pids(self) -> list[int]:
        """Processes of this cluster's jobs (slurmstepd and below): their environment names our root."""
        marker = f"{MARKER}={self.root}".encode()
        own = {p.pid for _, p in self.procs} | {os.getpid()}
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in own:
                continue
            try:
                environ = (entry / "environ").read_bytes()
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0") and cmdline.startswith(b"slurmstepd"):
                pids.append(int(entry.name))
        return pids

    def stop(self):
        """Cancel every job, stop the daemons by pid (newest first), remove the config link."""
        if any(name == "slurmctld" and p.poll() is None for name, p in self.procs):
            self._run("scancel", "--full", "--quiet", f"--user={os.getuid()}", check=False)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self._run(
                    "squeue", "-h", check=False).stdout.strip():
                time.sleep(0.5)
        for pid in self._job_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=5)
        self.procs.clear()
        if self.made_link and CONF_LINK.is_symlink() and os.readlink(CONF_LINK) == str(self.etc):
            CONF_LINK.unlink()
            if self.made_run_dir:
                try:
                    CONF_LINK.parent.rmdir()
                except OSError:
                    pass
        self.made_link = False


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[1] != "up":
        print(__doc__)
        return 2
    cluster = SlurmCluster(Path(argv[2]), gpus=int(os.environ.get("GPUS", "0")))
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the daemons on SIGTERM too
    t0 = time.monotonic()
    cluster.start()
    print(f"cluster up in {time.monotonic() - t0:.1f} s; use:\n  export SLURM_CONF={cluster.conf}", flush=True)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second signal must not cut the teardown short
            signal.signal(sig, signal.SIG_IGN)
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
