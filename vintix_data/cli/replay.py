"""`vintix-data replay`: re-simulate recorded episodes and compare them with the rows (vintix_data.replay)."""

from __future__ import annotations

from pathlib import Path

import typer

from vintix_data.cli.output import err, fail, report_lines
from vintix_data.errors import UserError


def replay_cmd(
    folder: Path,
    history: int | None = typer.Option(None, "--history", help="Only this history's episodes."),
    episodes: str | None = typer.Option(
        None, "--episodes", help="Episode indices and ranges, e.g. 0,5,10-12, or all (default: a seeded sample)."
    ),
    sample: int = typer.Option(5, "--sample", help="Episodes in the seeded sample when --episodes is not given."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    video: Path | None = typer.Option(
        None,
        "--video",
        help="Render the replayed episodes to OUT.gif or OUT.mp4 (MuJoCo/Meta-World: offscreen scene; IB: a plot of its state).",
    ),
    every: int = typer.Option(1, "--every", help="With --video: one frame every K steps (and each episode's last)."),
):
    """Play recorded episodes again from their reset seeds with the recorded actions; every observation, reward and
    end flag must come back (bit for bit on Industrial Benchmark, within the domain's stated tolerance on MuJoCo and
    Meta-World). One line per mismatch, exit 1."""
    from vintix_data.replay import parse_episodes, replay

    try:
        if not folder.is_dir():
            raise UserError(f"no such dataset folder: {folder}")
        everything = episodes is not None and episodes.strip().lower() == "all"
        chosen = parse_episodes(episodes)
        recorder = None
        if video is not None:
            from vintix_data.replay.video import VideoRecorder

            recorder = VideoRecorder(video, every=every)
        try:
            report = replay(
                folder, history=history, episodes=chosen, sample=None if everything else sample, video=recorder
            )
        finally:
            if recorder is not None:
                recorder.close(keep=True)
    except UserError as e:
        fail(str(e))
    if not report.replayable:
        fail(report.summary())
    if as_json:
        from vintix_data.jsonio import dumps

        print(dumps(report.to_dict(), indent=2))
    else:
        report_lines(report.lines(), [], label="mismatch")
        err.print(report.summary(), highlight=False, soft_wrap=True)
        if recorder is not None and recorder.frames:
            err.print(
                f"video: {video} ({recorder.frames} frames, {1e3 * recorder.render_seconds / recorder.frames:.0f} ms "
                "per rendered frame)",
                highlight=False,
                soft_wrap=True,
            )
    if not report.ok:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_cmd)
