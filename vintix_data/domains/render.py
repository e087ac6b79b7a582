"""Offscreen pictures of a MuJoCo-based env's scene (MuJoCo and Meta-World adapters' ``scene_renderer``).

Through gymnasium's own ``MujocoRenderer`` on the env's model and data, with the env's default camera, so a frame
shows what ``render_mode="rgb_array"`` would, without building the env differently from the one that collected
(no ``render_mode`` argument: the replayed env is the collection's env). Without a display the OpenGL context comes
from OSMesa (software) unless ``MUJOCO_GL`` says otherwise; a backend that cannot start is one line saying what to
install.
"""

from __future__ import annotations

import os
import sys
import warnings

import numpy as np

from vintix_data.errors import UserError

INSTALL_HINT = (
    "on Debian/Ubuntu: apt-get install -y libosmesa6, then MUJOCO_GL=osmesa (software, no GPU); "
    "or MUJOCO_GL=egl where an EGL device exists"
)


class RenderUnavailableError(UserError, RuntimeError):
    """No OpenGL backend for MuJoCo's offscreen renderer (one line naming what to install)."""


def mujoco_scene_renderer(env, width: int, height: int):
    """A function returning the env's current scene as an (height, width, 3) uint8 array."""
    if sys.platform.startswith("linux") and not os.environ.get("MUJOCO_GL"):
        os.environ["MUJOCO_GL"] = "osmesa"  # gymnasium would try glfw, then egl, which pins PyOpenGL to EGL first
    if os.environ.get("MUJOCO_GL") == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    from gymnasium.envs.mujoco.mujoco_rendering import MujocoRenderer

    u = env.unwrapped
    own = getattr(u, "mujoco_renderer", None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # glfw warns before it fails; the failure is the one line below
            renderer = MujocoRenderer(
                u.model,
                u.data,
                getattr(own, "default_cam_config", None),
                width=width,
                height=height,
                camera_id=getattr(own, "camera_id", None),
            )
            renderer.render("rgb_array")  # the GL context starts here
    except Exception as e:  # noqa: BLE001  (ImportError, RuntimeError, OpenGL errors: all mean "no usable backend")
        backend = os.environ.get("MUJOCO_GL")
        raise RenderUnavailableError(
            f"MuJoCo's offscreen renderer cannot start (MUJOCO_GL={backend}: "
            f"{type(e).__name__}: {str(e).splitlines()[0][:100] if str(e) else ''}); "
            f"{INSTALL_HINT}"
        ) from None

    def frame() -> np.ndarray:
        return np.ascontiguousarray(renderer.render("rgb_array"))

    frame.close = renderer.close
    return frame
