"""Replayed episodes as video: what a learning history looks like, first (noisy) episode to last (expert).

Frames come from the domain adapter's ``scene_renderer`` (MuJoCo and Meta-World: MuJoCo's offscreen renderer on the
replayed env) or, where a domain has no scene (Industrial Benchmark), from a plot of the full observation drawn as
the episode goes. Every frame carries the history, episode, step, the row's epsilon and the return so far (from the
recorded rewards, which the replay checks). GIF through Pillow (one undithered palette), MP4 through imageio-ffmpeg
(the ``[video]`` extra);
the file is written under a temporary name and renamed, so a failed render leaves nothing that looks complete.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from vintix_data.errors import UserError

FORMATS = (".gif", ".mp4")
WIDTH, HEIGHT = 320, 240


class VideoError(UserError, ValueError):
    """A video that cannot be written (bad name, missing package; one line)."""


def check_video_path(path: str | Path) -> Path:
    """Refuse a name we cannot write before any replay starts."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise VideoError(f"--video {path}: the name must end in .gif or .mp4")
    if not path.parent.is_dir():
        raise VideoError(f"--video {path}: no such folder {path.parent}")
    if path.is_dir():
        raise VideoError(f"--video {path} is a folder")
    _writer_module(path)
    return path


def _writer_module(path: Path):
    try:
        import imageio.v2 as imageio

        if path.suffix.lower() == ".mp4":
            import imageio_ffmpeg  # noqa: F401  (imageio's ffmpeg plugin needs it)
    except ImportError as e:
        raise VideoError(f"--video {path.suffix} needs {e.name}: pip install \"vintix[video]\"") from None
    return imageio


class ObservationPlot:
    """An animated line plot of the env's observation over the episode (domains without a scene)."""

    def __init__(self, names: list[str], limit: int, width: int, height: int):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.fig = Figure(figsize=(width / 100, height / 100), dpi=100)
        self.canvas = FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0.1, 0.17, 0.62, 0.63))
        self.lines = [self.ax.plot([], [], lw=1.2, label=n)[0] for n in names]
        self.ax.set_xlim(0, limit)
        self.ax.set_xlabel("step", fontsize=7)
        self.ax.tick_params(labelsize=6)
        self.fig.legend(loc="center right", fontsize=6, frameon=False)
        self.x: list[int] = []
        self.y: list[np.ndarray] = []

    def start(self) -> None:
        self.x, self.y = [], []

    def frame(self, step: int, obs: np.ndarray) -> np.ndarray:
        self.x.append(step)
        self.y.append(np.asarray(obs, np.float64).reshape(-1))
        ys = np.asarray(self.y)
        for j, line in enumerate(self.lines):
            line.set_data(self.x, ys[:, j])
        lo, hi = float(ys.min()), float(ys.max())
        self.ax.set_ylim(lo - 0.05 * (hi - lo + 1), hi + 0.05 * (hi - lo + 1))
        self.canvas.draw()
        return np.asarray(self.canvas.buffer_rgba())[..., :3].copy()


def label(frame: np.ndarray, lines: list[str]) -> np.ndarray:
    """The frame with a dark band at the top carrying ``lines``."""
    from PIL import Image, ImageDraw, ImageFont

    img = Image.fromarray(frame)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=12)
    draw.rectangle((0, 0, img.width, 16 * len(lines) + 4), fill=(0, 0, 0))
    for i, text in enumerate(lines):
        draw.text((5, 2 + 16 * i), text, fill=(255, 255, 255), font=font)
    return np.asarray(img)


class VideoRecorder:
    """Frames of the replayed episodes into one GIF or MP4; ``every`` keeps one step in ``every`` (and the last)."""

    def __init__(self, path: str | Path, every: int = 1, fps: int = 30, width: int = WIDTH, height: int = HEIGHT):
        if every < 1:
            raise VideoError(f"--every must be >= 1, got {every}")
        self.path = check_video_path(path)
        self.every, self.fps, self.width, self.height = every, fps, width, height
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp{self.path.suffix}")
        self.writer = None  # MP4: imageio-ffmpeg
        self.gif: list = []  # GIF: paletted frames, saved by Pillow at close
        self.palette = None
        self.frames = 0
        self.render_seconds = 0.0  # rendering, labelling and encoding frames (not the env steps)
        self._sources: dict[int, object] = {}

    def _source(self, task, env):
        key = id(env)
        if key not in self._sources:
            scene = task.adapter.scene_renderer(task.spec, env, self.width, self.height)
            if scene is None:
                names = task.observation_names() or [
                    f"obs[{i}]" for i in range(int(np.prod(env.observation_space.shape)))
                ]
                scene = ObservationPlot(names, task.adapter.episode_limit(task.spec), self.width, self.height)
            self._sources[key] = scene
        return self._sources[key]

    def episode(self, task, env, history: int, episode: int, rows: dict[str, np.ndarray], title: str | None = None):
        """The per-step callback of one replayed episode (``rows``: its rewards, and epsilons where known)."""
        source = self._source(task, env)
        if isinstance(source, ObservationPlot):
            source.start()
        n = len(rows["reward"])
        returns = np.r_[0.0, np.cumsum(rows["reward"], dtype=np.float64)]
        eps = rows.get("epsilon")

        def on_step(i: int, obs) -> None:
            if i % self.every and i != n:
                return
            t0 = time.perf_counter()
            raw = source.frame(i, obs) if isinstance(source, ObservationPlot) else source()
            e = f"epsilon {float(eps[min(i, n - 1)]):.3f}  " if eps is not None and len(eps) else ""
            self._write(
                label(
                    raw,
                    [
                        f"{title or f'history {history}  episode {episode}'}  step {i}",
                        f"{e}return {returns[min(i, n)]:.2f}",
                    ],
                )
            )
            self.render_seconds += time.perf_counter() - t0

        return on_step

    def _write(self, frame: np.ndarray) -> None:
        if self.path.suffix.lower() == ".gif":
            # one palette for the whole GIF, from its first frame, without dithering: a dithered palette per frame
            # (Pillow's default) is noise that does not compress (3.1 MB against 0.2 MB for a card's 78 frames)
            from PIL import Image

            img = Image.fromarray(frame)
            if self.palette is None:
                self.palette = img.quantize(colors=128, dither=Image.Dither.NONE)
            self.gif.append(img.quantize(palette=self.palette, dither=Image.Dither.NONE))
        else:
            if self.writer is None:
                self.writer = _writer_module(self.path).get_writer(
                    self.tmp, fps=self.fps, codec="libx264", quality=7, macro_block_size=8, ffmpeg_log_level="error"
                )
            self.writer.append_data(frame)
        self.frames += 1

    def close(self, keep: bool = True) -> Path | None:
        """Finish the file (rename it into place) or, with ``keep=False`` (a failed replay), remove it."""
        for source in self._sources.values():
            close = getattr(source, "close", None)
            if close is not None:
                close()
        self._sources.clear()
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if keep and self.gif:
            self.gif[0].save(
                self.tmp,
                format="GIF",
                save_all=True,
                append_images=self.gif[1:],
                duration=round(1000 / self.fps),
                loop=0,
            )
        self.gif, self.palette = [], None
        if keep and self.frames:
            os.replace(self.tmp, self.path)
            return self.path
        self.tmp.unlink(missing_ok=True)
        return None

    def __enter__(self) -> VideoRecorder:
        return self

    def __exit__(self, exc_type, *_) -> None:
        self.close(keep=exc_type is None)


def check_renderer(task, env) -> None:
    """Raise the one-line error a video would meet (no imageio, no GL backend), before any long work."""
    _writer_module(Path("check.gif"))
    scene = task.adapter.scene_renderer(task.spec, env, 32, 24)
    if scene is not None and hasattr(scene, "close"):
        scene.close()


def card_video(folder: str | Path, frames_per_episode: int = 30, fps: int = 10) -> Path:
    """``plots/replay.gif`` of a dataset folder: history 0's first, middle and last episodes, replayed (and so checked)
    with about ``frames_per_episode`` frames each; the card shows it (``collect --card-video``)."""
    from vintix_data.card.plots import VIDEO_PATH
    from vintix_data.format import DatasetInfo
    from vintix_data.replay.simulate import episode_table, replay

    folder = Path(folder)
    cols = episode_table(folder)
    ks = sorted(int(k) for h, k in zip(cols["history"], cols["episode"]) if h == 0)
    picked = sorted({ks[0], ks[len(ks) // 2], ks[-1]})
    every = max(1, -(-DatasetInfo.load(folder).episode_limit // frames_per_episode))
    path = folder / VIDEO_PATH
    with VideoRecorder(path, every=every, fps=fps) as rec:
        report = replay(folder, history=0, episodes=picked, video=rec)
        if not report.ok:
            raise VideoError(
                f"{folder}: the card video's replay disagrees with the rows: "
                + (report.lines()[0] if report.lines() else str(report.reason))
            )
    return path
