"""Hostile servers and hostile inputs: no traceback, no secret in any message, bounded waits, outputs that
never clobber what is not a regular file."""

import json
import os
import stat
import time
from pathlib import Path

import pytest
from conftest import BASE_FLEET, run_cli
from fault_server import FaultServer

from stakealloc.errors import ApiError, ConfigError
from stakealloc.numerai import Client
from stakealloc.numerai.transport import _retry_after

SECRET = "SECRETKEY-do-not-leak-42"
PUBLIC = "PUBLICID-7"


def client(url, **kw):
    slept = []
    kw.setdefault("timeout", 2.0)
    return Client(url, public_id=PUBLIC, secret_key=SECRET, sleep=slept.append, backoff=0.01, **kw), slept


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["truncated", "chunked", "badgzip"])
def test_broken_bodies_are_retried_then_an_api_error(mode):
    with FaultServer([mode, "ok"]) as fs:
        c, slept = client(fs.url)
        assert c.model_id("x") == "id-x"  # the second attempt succeeds
        assert len(fs.seen) == 2 and len(slept) == 1
    with FaultServer([mode]) as fs:
        c, _ = client(fs.url, retries=2)
        with pytest.raises(ApiError, match="gave up after 3 attempts"):
            c.model_id("x")


@pytest.mark.slow
def test_drip_fed_body_hits_the_total_deadline():
    with FaultServer(["drip"], drip_every=0.2) as fs:
        c, _ = client(fs.url, timeout=1.0, retries=1)
        t0 = time.monotonic()
        with pytest.raises(ApiError, match="longer than 1 s|timed out"):
            c.model_id("x")
        assert time.monotonic() - t0 < 6  # two attempts of about 1 s each, not the body's ~12 s


def test_error_text_echoing_the_token_is_scrubbed():
    with FaultServer(["echo"]) as fs:
        c, _ = client(fs.url)
        with pytest.raises(ApiError) as e:
            c.account_models()
    assert "Authorization" in str(e.value) and SECRET not in str(e.value) and PUBLIC not in str(e.value)


def test_retry_after_nan_and_huge_are_bounded():
    assert _retry_after("nan") is None and _retry_after("-3") is None and _retry_after("inf") is None
    assert _retry_after("1e9") == 30.0 and _retry_after("2.5") == 2.5
    with FaultServer(["nan429", "huge429", "ok"]) as fs:
        c, slept = client(fs.url)
        assert c.model_id("x") == "id-x"
    assert slept[0] == pytest.approx(0.01) and slept[1] == 30.0  # nan ignored (backoff), 1e9 capped at 30 s


def test_retry_budget_bounds_the_whole_request():
    with FaultServer(["huge429"]) as fs:
        c, slept = client(fs.url, retries=10, budget=65.0)  # sleeps are recorded, not slept
        t0 = time.monotonic()
        with pytest.raises(ApiError, match="retry budget of 65 s is spent"):
            c.model_id("x")
    assert sum(slept) <= 65.0 and len(slept) == 2 and time.monotonic() - t0 < 10


def test_huge_response_is_refused():
    with FaultServer(["huge"], huge_bytes=60_000_000) as fs:
        c, _ = client(fs.url, timeout=30.0)
        with pytest.raises(ApiError, match="larger than 50 MB"):
            c.model_id("x")


def test_redirect_loop_is_an_api_error():
    with FaultServer(["redirect"]) as fs:
        c, _ = client(fs.url)
        with pytest.raises(ApiError, match="too many redirects"):
            c.model_id("x")


def test_a_redirect_to_another_scheme_is_a_server_response_exit_3():
    """It was exit 2 blaming STAKEALLOC_API_URL or the keys."""
    with FaultServer(["ftp"]) as fs:
        c, _ = client(fs.url)
        with pytest.raises(ApiError, match="the server redirected to a URL that cannot be followed") as e:
            c.model_id("x")
    assert e.value.exit_code == 3


@pytest.mark.parametrize("key", [SECRET + "\r", "a b", "ключ"])
def test_bad_key_characters_are_refused_without_showing_the_key(key):
    with pytest.raises(ConfigError) as e:
        Client("http://127.0.0.1:9", public_id=PUBLIC, secret_key=key)
    assert "NUMERAI_SECRET_KEY" in str(e.value) and key.strip() not in str(e.value)


@pytest.mark.parametrize("url,needle", [("ftp://127.0.0.1/", "http:// or https://"), ("http://", "with a host"),
                                        ("http://127.0.0.1:99999/", "not a valid URL")])
def test_bad_api_url_is_bad_input(url, needle):
    with pytest.raises(ConfigError, match=needle):
        Client(url)


@pytest.mark.slow
def test_url_credentials_never_shown(write_fleet, tmp_path):
    fleet = write_fleet(BASE_FLEET.replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
                                           'source = "numerai"\ncache_dir = "cache"'))
    r = run_cli("run", str(fleet), "--json", str(tmp_path / "p.json"),
                env={"STAKEALLOC_API_URL": "http://user:pw-secret-9@127.0.0.1:9/", "STAKEALLOC_API_TIMEOUT": "1"})
    assert r.returncode == 3 and "pw-secret-9" not in r.stdout + r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_cli_key_with_carriage_return_is_exit_2_without_the_key(write_fleet):
    r = run_cli("slots", env={"NUMERAI_PUBLIC_ID": PUBLIC, "NUMERAI_SECRET_KEY": SECRET + "\r"})
    assert r.returncode == 2 and SECRET not in r.stderr and "Traceback" not in r.stderr


# --- outputs -------------------------------------------------------------------------------


@pytest.mark.slow
def test_outputs_never_replace_a_device_a_fifo_or_a_directory(write_fleet, tmp_path):
    fleet = str(write_fleet())
    r = run_cli("run", fleet, "--json", "/dev/null")
    assert r.returncode == 0 and stat.S_ISCHR(os.stat("/dev/null").st_mode)
    r = run_cli("run", fleet, "--json", str(tmp_path))
    assert r.returncode == 2 and "--json" in r.stderr and "is a directory" in r.stderr
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    import threading

    got = []
    t = threading.Thread(target=lambda: got.append(open(fifo).read()))
    t.start()
    r = run_cli("run", fleet, "--json", str(fifo))
    t.join(timeout=60)
    assert r.returncode == 0 and json.loads(got[0])["slots"] and stat.S_ISFIFO(os.stat(fifo).st_mode)


@pytest.mark.slow
def test_outputs_symlink_stdout_permissions_and_missing_directory(write_fleet, tmp_path):
    fleet = str(write_fleet())
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    r = run_cli("run", fleet, "--json", str(link))
    assert r.returncode == 0 and link.is_symlink() and json.loads(target.read_text())["slots"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    r = run_cli("run", fleet, "--csv", "-")
    assert r.returncode == 0 and "slot,model,side,stake,changed" in r.stdout
    r = run_cli("run", fleet, "--json", str(tmp_path / "no" / "such" / "p.json"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


# --- ranges, cache paths, strict JSON ------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("old,new,needle", [
    ("stake = 600.0", "stake = 1e308", "slots[1] (slot_b).stake: must be ≤ 1.1e+07"),
    ("stake = 600.0", "stake = 9223372036854775807", "must be ≤ 1.1e+07"),
    ("stake = 1000.0", "stake = 6000000.0\n", ""),
    ('regime = "classic-2024"', 'regime = "custom"\nscores = ["canon_corr"]\ncombinations = [[0]]',
     "no combination pays"),
    ("time_limit = 20", "time_limit = 20\nchange_penalty = 5000", "solver.change_penalty: 5000 is more than the total"),
])
def test_ranges_that_mean_something(write_fleet, old, new, needle):
    text = BASE_FLEET.replace(old, new, 1)
    if old == "stake = 1000.0":  # two slots over half the supply each: the total is over it
        text = text.replace("stake = 600.0", "stake = 6000000.0")
        needle = "more than NMR's total supply"
    if "custom" in new:
        text = text.replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }', "")
    r = run_cli("validate", str(write_fleet(text)))
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["file", "readonly"])
def test_cache_dir_that_is_a_file_or_unwritable_is_exit_3(write_fleet, tmp_path, kind):

    if kind == "file":
        (tmp_path / "cache").write_text("not a directory")
    else:
        (tmp_path / "cache").mkdir()
        os.chmod(tmp_path / "cache", 0o500)
        if os.access(tmp_path / "cache", os.W_OK):  # root may write anyway
            pytest.skip("running as a user who can write a read-only directory")
    fleet = write_fleet(BASE_FLEET.replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
                                           'source = "numerai"\ncache_dir = "cache"'))
    r = run_cli("run", str(fleet), "--offline")
    assert r.returncode == 3 and "cache" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_targets_file_that_is_a_directory_is_exit_2(write_fleet, tmp_path):
    r = run_cli("assign", str(write_fleet()), "--targets", str(tmp_path))
    assert r.returncode == 2 and "--targets" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.slow
def test_plan_json_is_strict(write_fleet, tmp_path):
    r = run_cli("run", str(write_fleet()), "--json", str(tmp_path / "p.json"))
    assert r.returncode == 0

    def refuse(x):
        raise ValueError(f"non-standard JSON constant {x}")

    json.loads((tmp_path / "p.json").read_text(), parse_constant=refuse)


@pytest.mark.slow
def test_two_runs_sharing_a_cache_at_once_both_succeed(write_fleet, tmp_path, bundled):
    import subprocess
    import sys

    from conftest import ROOT
    from fake_numerai import FakeNumerai

    from stakealloc.cache import Cache

    models = ["fearindex", "reputation", "jos_stack", "integration_test", "nb_example_model"]
    fleet = write_fleet(BASE_FLEET.replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
                                           'source = "numerai"\ncache_dir = "cache"'))
    with FakeNumerai(bundled, models) as fake:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NUMERAI_")}
        env["STAKEALLOC_API_URL"] = fake.url
        procs = [subprocess.Popen([sys.executable, "-m", "stakealloc.cli", "run", str(fleet), "--json",
                                   str(tmp_path / f"p{i}.json")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for i in range(2)]
        outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1] for o in outs]
    a, b = (json.loads((tmp_path / f"p{i}.json").read_text()) for i in range(2))
    assert a["slots"] == b["slots"] and a["weights"] == b["weights"]
    cache = Cache(tmp_path / "cache", 8)
    for m in models:  # every cache file whole and valid
        mid, rows = cache.load_scores(m)
        assert mid == f"id-{m}" and rows
    assert cache.load_rules() and not list((tmp_path / "cache").glob("*.tmp"))


@pytest.mark.slow
def test_slots_block_escapes_model_names(bundled):
    import tomllib

    from fake_numerai import FakeNumerai

    evil = 'x"\n[[slots]]\nname = "injected'
    with FakeNumerai(bundled, []) as fake:
        fake.account = [(evil, "id-1")]
        fake.stakes[evil] = "1.5"
        r = run_cli("slots", env={"STAKEALLOC_API_URL": fake.url, "NUMERAI_PUBLIC_ID": PUBLIC,
                                  "NUMERAI_SECRET_KEY": SECRET})
    assert r.returncode == 0, r.stderr
    doc = tomllib.loads(r.stdout)
    assert len(doc["slots"]) == 1 and doc["slots"][0]["name"] == evil.lower()


_LARGE_SOLVE = ("import signal, sys, threading, time\n"
                # a process that starts with SIGINT ignored keeps it so (a background job of a non-interactive
                # shell, e.g. `bash .ci/run &`): Ctrl-C raises here as the CLI's main() makes it raise
                "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                "sys.path.insert(0, 'benchmarks')\n"
                "from slots import instance\n"
                "from stakealloc.regimes import PRESETS\n"
                "from stakealloc.config import SolverName\n"
                "from stakealloc.slots import SlotProblem\n"
                "from stakealloc.slots.backends import leave, solver_running\n"
                "from stakealloc.slots.compact import solve_compact\n"
                "slots, tg, models = instance(40, 20, PRESETS['classic-2023'], 1)\n"
                "pb = SlotProblem.build(slots, tg, PRESETS['classic-2023'], models)\n"
                "def watch():\n"  # the signal the test waits for: the solver's thread is running
                "    while not solver_running():\n"
                "        time.sleep(0.01)\n"
                "    print('solver running', flush=True)\n"
                "threading.Thread(target=watch, daemon=True).start()\n"
                "try:\n"  # the full compact program: HiGHS alone for up to 120 s
                "    solve_compact(pb, SolverName.HIGHS, 120.0)\n"
                "    print('finished', flush=True)\n"
                "except KeyboardInterrupt:\n"
                "    print('interrupted', flush=True); leave(130)\n")


_LEAVE = ("import atexit, sys, threading, time\n"
          "from stakealloc.slots.backends import leave\n"
          "out, code, thread = sys.argv[1], int(sys.argv[2]), sys.argv[3] == 'thread'\n"
          "atexit.register(lambda: open(out + '.atexit', 'w').write('ran'))\n"
          "class Finalised:\n"  # an object only the interpreter's teardown would finalise
          "    def __del__(self, open=open, path=out + '.teardown'):\n"  # builtins may be gone by then
          "        open(path, 'w').write('ran')\n"
          "keep = Finalised()\n"
          "def late():\n"
          "    time.sleep(0.3)\n"
          "    open(out + '.thread', 'w').write('done')\n"
          "if thread:\n"
          "    threading.Thread(target=late).start()\n"
          "sys.stdout.write('x' * 1_000_000)\n"  # buffered in the process: lost unless flushed
          "leave(code)\n")


@pytest.mark.slow  # a process of its own
@pytest.mark.parametrize("thread", [False, True])
def test_leaving_flushes_runs_atexit_and_waits_for_threads_but_skips_the_teardown(tmp_path, thread):
    """`leave` ends a command without the interpreter's teardown (100-150 ms of freeing): stdout is complete
    through a pipe, atexit handlers run and the exit code stands; a non-daemon thread still running is waited
    for (then Python exits as usual, finalisers included)."""
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "p"
    r = subprocess.run([sys.executable, "-c", _LEAVE, str(out), "3", "thread" if thread else "-"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 3 and r.stdout == "x" * 1_000_000 and r.stderr == ""
    assert (tmp_path / "p.atexit").read_text() == "ran"
    assert (tmp_path / "p.thread").exists() is thread
    assert (tmp_path / "p.teardown").exists() is thread  # skipped unless Python's own exit was taken


@pytest.mark.slow
def test_ctrl_c_during_a_solve_exits_130_within_2_seconds():
    """A large program under HiGHS: SIGINT while the native solver runs (which Python cannot interrupt)
    ends the run at once, because the solver runs in a thread the main thread waits on in short steps, and
    the process leaves without tearing the running solver down (no SIGABRT)."""
    import signal
    import subprocess
    import sys

    from conftest import ROOT

    p = subprocess.Popen([sys.executable, "-c", _LARGE_SOLVE], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "solver running"  # waits however long the build takes
    t0 = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, _ = p.communicate(timeout=60)
    assert p.returncode == 130 and "interrupted" in out, (p.returncode, out)
    assert time.monotonic() - t0 < 2.0


@pytest.mark.slow
def test_sigterm_during_a_backtest_exits_130_with_one_line(write_fleet, tmp_path):
    """systemd and cron time-outs send SIGTERM: the CLI ends as for Ctrl-C, one line, exit 130, no output."""
    import signal
    import subprocess
    import sys

    fleet = write_fleet(BASE_FLEET.replace('objective = "exposure"', 'objective = "tracking"'))
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMERAI_")}
    # a tracking backtest in one process: minutes of solving, so the signal always finds it at work
    p = subprocess.Popen([sys.executable, "-m", "stakealloc", "backtest", str(fleet), "--step", "1", "--jobs", "1",
                          "--json", str(tmp_path / "p.json")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    # the signal to wait for: the process has imported the solver (its HiGHS library is mapped)
    while "highspy" not in Path(f"/proc/{p.pid}/maps").read_text() and time.monotonic() < deadline:
        assert p.poll() is None
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (p.returncode, err)
    assert err.strip().splitlines() == ["stakealloc: interrupted"] and out == ""
    assert not (tmp_path / "p.json").exists()


def _children(pid: int) -> list[int]:
    kids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return kids


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sweep", "backtest"])
def test_ctrl_c_with_worker_processes_prints_one_line(write_fleet, tmp_path, command):
    """Ctrl-C in a terminal signals the whole process group, joblib's workers too, whether they are still
    starting (importing) or at work: the user sees the CLI's one line, no worker's traceback and no resource
    tracker's warning of leaked semaphores, and no worker outlives the run."""
    import signal
    import subprocess
    import sys

    fleet = write_fleet()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMERAI_")}
    args = (["sweep", str(fleet), "--risk-measures", "MV,CVaR,CDaR", "--lookbacks", "60,100",
             "--out", str(tmp_path / "out")] if command == "sweep" else
            ["backtest", str(fleet), "--risk-measures", "MV,CVaR,CDaR", "--json", str(tmp_path / "b.json")])
    for wait in (0.0, 0.3, 1.5):  # the workers starting up, importing, and (mostly) at work
        p = subprocess.Popen([sys.executable, "-m", "stakealloc", *args, "--step", "1", "--jobs", "2"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)  # its own process group, as a terminal's job is
        deadline = time.monotonic() + 120
        while len(kids := _children(p.pid)) < 4 and time.monotonic() < deadline:  # 2 trackers, 2 workers
            assert p.poll() is None
            time.sleep(0.02)
        time.sleep(wait)
        os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=60)
        assert (p.returncode, err) == (130, "stakealloc: interrupted\n"), (wait, p.returncode, err[-2000:])
        time.sleep(0.5)
        assert not [k for k in kids if Path(f"/proc/{k}").exists()
                    and "zombie" not in Path(f"/proc/{k}/status").read_text()], wait
        assert not (tmp_path / "b.json").exists()


@pytest.mark.slow
def test_a_solve_returns_within_its_time_limit_plus_2_seconds():
    import sys

    from conftest import ROOT

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from slots import instance

    from stakealloc.regimes import PRESETS
    from stakealloc.slots import SlotProblem, solve

    slots, tg, models = instance(50, 20, PRESETS["classic-2023"], 1)
    t0 = time.perf_counter()
    plan = solve(SlotProblem.build(slots, tg, PRESETS["classic-2023"], models), time_limit=4)
    assert time.perf_counter() - t0 <= 4 + 2
    assert plan.solver.status in ("optimal", "feasible")


@pytest.mark.slow
def test_full_disk_on_an_output_is_exit_3_and_leaves_nothing(write_fleet, tmp_path):
    """Real write failures, no patching: /dev/full (ENOSPC on every write), and a file-size limit the plan
    exceeds (EFBIG), where the atomic write must leave no temporary file behind."""
    import subprocess
    import sys

    fleet = str(write_fleet())
    r = run_cli("run", fleet, "--json", "/dev/full")
    assert r.returncode == 3 and "--json: cannot write /dev/full: No space left" in r.stderr
    out = tmp_path / "out"
    out.mkdir()
    code = ("import resource, signal, sys\n"
            "from stakealloc import cli\n"
            "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))\n"
            "sys.exit(cli.main(['run', sys.argv[1], '--json', sys.argv[2]]))\n")
    r = subprocess.run([sys.executable, "-c", code, fleet, str(out / "p.json")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 3 and "--json: cannot write" in r.stderr and "too large" in r.stderr, r.stderr
    assert list(out.iterdir()) == []


@pytest.mark.slow
def test_snapshot_path_that_is_a_directory_is_exit_2_naming_the_key(write_fleet, tmp_path):
    (tmp_path / "snap").mkdir()
    fleet = write_fleet(BASE_FLEET.replace("[data]\n", '[data]\nsnapshot = "snap"\n'))
    r = run_cli("run", str(fleet))
    assert r.returncode == 2 and "data.snapshot: no such file" in r.stderr and "snap" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_refused_connection_fails_fast_naming_the_host(write_fleet):
    """Nothing listens: one quick retry, then exit 3 naming the address (it used to retry like a rate limit
    for 32 s and say only 'connection failed')."""
    fleet = write_fleet(BASE_FLEET.replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
                                           'source = "numerai"\ncache_dir = "cache"'))
    t0 = time.monotonic()
    r = run_cli("fetch", str(fleet))  # run_cli points the client at http://127.0.0.1:9, a closed port
    assert r.returncode == 3 and "gave up after 2 attempts: cannot connect to http://127.0.0.1:9: connection " \
                                 "refused" in r.stderr, r.stderr
    assert time.monotonic() - t0 < 15


# --- outputs never replace inputs; inputs are regular, bounded files (second hardening round) --------------


def _cli(capsys, *argv):
    from stakealloc import cli

    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_outputs_never_replace_inputs_or_each_other(capsys, write_fleet, tmp_path):
    fleet = write_fleet()
    before = fleet.read_bytes()
    snap = tmp_path / "snap.csv"
    snap.write_text("round,model,score,value\n1,fearindex,canon_corr,0.1\n")
    cases = [
        (("--json", str(fleet)), "which this run reads; it would be replaced by the output"),
        (("--json", str(tmp_path / "p.json"), "--csv", str(tmp_path / "p.json")), "is also the path of --json"),
        (("--json", str(tmp_path / "x.json") + "/"), "names a directory; name a file"),
        (("--csv", ""), "an empty path"),
        (("--json", "-", "--csv", "-"), "- (stdout) is also the output of --json"),
    ]
    for extra, needle in cases:
        rc, _, err = _cli(capsys, "run", str(fleet), *extra)
        assert rc == 2 and needle in err, (extra, err)
    assert fleet.read_bytes() == before and not (tmp_path / "p.json").exists()
    withsnap = write_fleet(BASE_FLEET.replace("[data]\n", f'[data]\nsnapshot = "{snap}"\n'), "s.toml")
    rc, _, err = _cli(capsys, "run", str(withsnap), "--csv", str(snap))
    assert rc == 2 and "which this run reads" in err and snap.read_text().startswith("round,model")


def test_a_read_only_output_is_not_replaced(capsys, write_fleet, tmp_path):
    ro = tmp_path / "ro.json"
    ro.write_text("keep")
    os.chmod(ro, 0o444)
    rc, _, err = _cli(capsys, "run", str(write_fleet()), "--json", str(ro))
    assert rc == 2 and "is read-only; it is not replaced" in err
    assert ro.read_text() == "keep" and stat.S_IMODE(ro.stat().st_mode) == 0o444


def test_a_fifo_output_without_reader_is_refused_at_once(capsys, write_fleet, tmp_path):
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    t0 = time.monotonic()
    rc, _, err = _cli(capsys, "run", str(write_fleet()), "--json", str(fifo))
    assert rc == 2 and "is a FIFO with no reader" in err and time.monotonic() - t0 < 30


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "nested", "huge"])
def test_the_fleet_path_is_a_bounded_regular_file(capsys, tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "f.fifo"
        os.mkfifo(path)
        needle = "not a regular file"
    elif kind == "dev_zero":
        path, needle = Path("/dev/zero"), "not a regular file"
    elif kind == "nested":
        path = tmp_path / "n.toml"
        path.write_text("x = " + "[" * 50_000 + "]" * 50_000 + "\n")
        needle = "nested too deeply"
    else:
        path = tmp_path / "h.toml"
        path.write_bytes(b"# " + b"x" * 10_000_001 + b"\n")
        needle = "larger than 10 MB"
    t0 = time.monotonic()
    rc, _, err = _cli(capsys, "validate", str(path))
    assert rc == 2 and needle in err and "Traceback" not in err, err
    assert time.monotonic() - t0 < 30


def test_home_is_expanded_in_paths(write_fleet, tmp_path, monkeypatch):
    from stakealloc.config import parse

    monkeypatch.setenv("HOME", str(tmp_path))
    spec = parse(write_fleet(BASE_FLEET.replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
                                                'source = "numerai"\ncache_dir = "~/stakecache"')))
    assert spec.data.cache_dir == tmp_path / "stakecache"


def test_empty_dask_and_out_and_too_many_jobs(capsys, write_fleet, tmp_path):
    fleet = str(write_fleet())
    rc, _, err = _cli(capsys, "sweep", fleet, "--out", str(tmp_path / "s"), "--dask", "")
    assert rc == 2 and "--dask: an empty address" in err
    rc, _, err = _cli(capsys, "sweep", fleet, "--out", " ")
    assert rc == 2 and "--out: an empty path" in err
    from stakealloc.cli import _jobs
    from stakealloc.walkforward import default_jobs

    assert _jobs(10_000) == default_jobs() and _jobs(1) == 1 and _jobs(None) == default_jobs()


def test_server_text_is_escaped_and_long_error_lists_summarised(capsys, tmp_path):
    """A GraphQL error that holds a newline and an ANSI escape cannot forge a line or colour the terminal, and
    5,000 errors are the first few and a count, not one 2.5 MB line."""
    from fake_numerai import FakeNumerai

    fleet = tmp_path / "f.toml"
    fleet.write_text(BASE_FLEET.replace('columns = { v2_corr20 = "canon_corr", mmc = "canon_mmc" }',
                                        'source = "numerai"\ncache_dir = "cache"'))
    with FakeNumerai(None, []) as fake:
        fake.faults = [("errors", "boom\nstakealloc: error: forged line \x1b[31mred")]
        os.environ["STAKEALLOC_API_URL"] = fake.url
        try:
            rc, _, err = _cli(capsys, "fetch", str(fleet))
        finally:
            del os.environ["STAKEALLOC_API_URL"]
    assert rc == 3 and err.count("\n") == 1 and "\x1b" not in err and "\\x1b[31mred" in err and "\\n" in err
    from stakealloc.numerai import MAX_ERRORS_SHOWN, GraphQLError

    class Many(FakeNumerai):
        def answer(self, body, headers):
            return {"errors": [{"message": f"e{i}"} for i in range(5000)], "data": None}

    with Many(None, []) as fake:
        from stakealloc.numerai import Client

        c = Client(fake.url, sleep=lambda s: None, backoff=0.01, pause=0.0, timeout=5.0)
        with pytest.raises(GraphQLError) as e:
            c.current_round()
    assert str(e.value).endswith(f"(and {5000 - MAX_ERRORS_SHOWN} more)") and len(str(e.value)) < 300


def test_two_regime_scores_cannot_read_one_column(bundled):
    from stakealloc.regimes import PRESETS
    from stakealloc.scores import payout_table

    with pytest.raises(ConfigError, match="data.columns.mmc: column 'canon_mmc' is also read by payout score "
                                          "'v2_corr20'"):
        payout_table(bundled, PRESETS["classic-2024"], {"v2_corr20": "canon_mmc", "mmc": "canon_mmc"}, "b")


def test_bundled_snapshot_is_classic_only(write_fleet):
    from stakealloc.config import parse

    with pytest.raises(ConfigError, match="data.tournament: 'signals', but the bundled snapshot holds Numerai "
                                          "Classic scores"):
        parse(write_fleet(BASE_FLEET.replace("[data]\n", '[data]\ntournament = "signals"\n')))


def test_multipliers_are_bounded_and_a_live_grid_is_counted_before_it_is_built():
    from stakealloc.regimes import ScoreConfig, ScoreSpec, custom_regime, regime_from_configs

    with pytest.raises(ConfigError, match=r"multiplier 1e\+200 is more than 1000"):
        custom_regime(["a"], [[1e200]])
    spec = ScoreSpec("corr", "corr", "1", 20, 2, 1)
    t0 = time.monotonic()
    with pytest.raises(ApiError, match="multiplier 1e\\+300 is not in 0..1000"):
        regime_from_configs([ScoreConfig(spec, True, 0.0, 1e300, 0.0, None, None)], 5, step=0.5)
    with pytest.raises(ConfigError, match=r"payout.multiplier_step: 1e-12 gives 1e\+15 multiplier combinations"):
        regime_from_configs([ScoreConfig(spec, True, 0.0, 1000.0, 0.0, None, None)], 5, step=1e-12)
    assert time.monotonic() - t0 < 2  # nothing was built


def test_a_huge_api_timeout_is_refused():
    with pytest.raises(ConfigError, match=r"STAKEALLOC_API_TIMEOUT: must be a number of seconds in \(0, 3600\]"):
        Client("http://127.0.0.1:9", timeout=1e10)


def test_scrubbing_covers_every_form_a_server_may_echo():
    import base64
    from urllib.parse import quote

    from stakealloc.numerai import scrub, url_secrets

    key = "Sec/ret+Key=42abcdefgh"
    url = "http://alice:p%40ss@127.0.0.1:9/"
    secrets = (key, *url_secrets(url))
    for echoed in (key, key.lower(), key.upper(), quote(key, safe=""), base64.b64encode(key.encode()).decode(),
                   key[:10] + "…", "p@ss", "p%40ss", base64.b64encode(b"alice:p@ss").decode()):
        shown = scrub(f"server says: {echoed} end", secrets)
        assert echoed not in shown and "***" in shown, (echoed, shown)
    assert scrub("nothing secret here", secrets) == "nothing secret here"


def test_models_duplicate_check_is_linear(tmp_path):
    from stakealloc.config import parse_fleet

    doc = {"models": [f"m{i}" for i in range(100_000)], "slots": [{"name": "s", "stake": 1.0}]}
    t0 = time.monotonic()
    parse_fleet(doc, base=tmp_path)
    assert time.monotonic() - t0 < 10
