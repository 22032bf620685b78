"""Procedural chest-CT-like axial slices: the real images of the built-in demo.

Each patient gets an ``Anatomy`` (shape parameters drawn once per patient: body outline, lungs,
heart, spine, aorta, ribs, lung vessels, nodules, grey levels, noise). A slice renders that anatomy
at a height ``z`` in [0, 1] (0 = lung apex, 1 = lung base); lungs, heart, vessels and nodules change
smoothly with ``z``, so neighbouring slices of one patient look alike and different patients differ.

Coordinates: ``x`` to the image right, ``y`` down (anterior at the top, spine at the bottom, as a
radiologist views an axial slice), both in [-1, 1] across the image. Grey levels are in [0, 1] in a
lung-window-like display: air black, lung dark, fat and soft tissue grey, bone near white.
Slices are rendered at ``supersample`` times the output size and block-averaged (anti-aliasing).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Anatomy:
    """Shape and grey-level parameters of one patient (lengths in image units, [-1, 1] wide)."""

    body_a: float  # half-width of the body outline
    body_b: float  # half-height of the body outline
    body_cx: float  # body centre x
    body_cy: float  # body centre y
    body_p: float  # superellipse exponent of the outline (2 = ellipse, larger = boxier)
    fat: float  # subcutaneous fat thickness
    lung_w: float  # lung half-width, as a fraction of body_a
    lung_h: float  # lung half-height, as a fraction of body_b
    lung_gap: float  # half the gap between the lungs (mediastinum), image units
    lung_dy: float  # vertical offset of the lungs from the body centre
    lung_asym: float  # right/left lung size ratio
    heart_r: float  # heart radius at full size
    heart_dx: float  # heart centre offset to the image right
    heart_dy: float  # heart centre offset (negative = anterior)
    heart_z0: float  # z where the heart starts to appear
    spine_r: float  # vertebral body radius
    aorta_r: float  # descending aorta radius
    rib_angles: tuple[float, ...]  # angles (rad) of the rib cross-sections on the outline
    vessels: np.ndarray  # (K, 5) lung vessels: x0, y0, dx/dz, dy/dz, radius (x0, y0 in lung units)
    nodules: np.ndarray  # (M, 5) nodules: x, y (lung units), z centre, z extent, radius
    levels: tuple[float, float, float, float, float]  # grey of lung, fat, tissue, blood, bone
    noise: float  # noise standard deviation (grey levels)
    z0: float  # z of the first slice
    dz: float  # z step between slices


def draw_anatomy(rng: np.random.Generator) -> Anatomy:
    """Draw one patient's anatomy from ``rng``."""
    u = rng.uniform
    n_vessels = int(rng.integers(10, 22))
    vessels = np.column_stack([
        u(-0.9, 0.9, n_vessels), u(-0.9, 0.9, n_vessels),  # position inside a lung (lung units)
        rng.normal(0, 0.5, n_vessels), rng.normal(0, 0.5, n_vessels),  # drift per unit z
        u(0.014, 0.030, n_vessels),
    ])
    n_nodules = int(rng.choice([0, 1, 1, 2, 3]))
    nodules = np.column_stack([
        u(-0.7, 0.7, n_nodules), u(-0.7, 0.7, n_nodules),
        u(0.2, 0.8, n_nodules), u(0.08, 0.25, n_nodules), u(0.03, 0.08, n_nodules),
    ]).reshape(n_nodules, 5)
    n_ribs = int(rng.integers(4, 8))
    ribs = tuple(float(a) for a in np.sort(u(-0.9, 1.2, n_ribs)))  # lateral arc, per side
    return Anatomy(
        body_a=u(0.80, 0.93), body_b=u(0.54, 0.70), body_cx=u(-0.04, 0.04), body_cy=u(-0.06, 0.06),
        body_p=u(2.1, 2.9), fat=u(0.04, 0.10),
        lung_w=u(0.27, 0.33), lung_h=u(0.56, 0.70), lung_gap=u(0.10, 0.17), lung_dy=u(-0.06, 0.04),
        lung_asym=u(0.92, 1.10),
        heart_r=u(0.20, 0.28), heart_dx=u(0.04, 0.14), heart_dy=u(-0.14, 0.0), heart_z0=u(0.25, 0.55),
        spine_r=u(0.075, 0.10), aorta_r=u(0.045, 0.065), rib_angles=ribs,
        vessels=vessels, nodules=nodules,
        levels=(u(0.05, 0.12), u(0.30, 0.40), u(0.50, 0.60), u(0.58, 0.68), u(0.85, 0.98)),
        noise=u(0.02, 0.045), z0=u(0.10, 0.35), dz=u(0.07, 0.11),
    )


def _soft(inside: np.ndarray, width: float) -> np.ndarray:
    """Soft mask from a signed 'inside' measure (positive inside, ~distance units)."""
    return 1.0 / (1.0 + np.exp(-np.clip(inside / width, -30, 30)))


def _ellipse(x: np.ndarray, y: np.ndarray, cx: float, cy: float, a: float, b: float,
             p: float = 2.0, width: float = 0.012) -> np.ndarray:
    """Soft superellipse mask ``|dx/a|^p + |dy/b|^p <= 1``; ``(S, S)`` float in [0, 1]."""
    r = (np.abs((x - cx) / a) ** p + np.abs((y - cy) / b) ** p) ** (1.0 / p)
    return _soft((1.0 - r) * min(a, b), width)


def render_slice(anat: Anatomy, z: float, size: int, rng: np.random.Generator,
                 supersample: int = 2) -> np.ndarray:
    """One axial slice of ``anat`` at height ``z``: ``(size, size)`` uint8.

    ``rng`` draws only the acquisition noise, so the anatomy itself is a function of ``(anat, z)``.
    """
    s = size * supersample
    c = (np.arange(s) + 0.5) / s * 2.0 - 1.0
    y, x = np.meshgrid(c, c, indexing="ij")  # (S, S) each
    lung_lv, fat_lv, tissue_lv, blood_lv, bone_lv = anat.levels

    # Body: a gentle taper along z, fat shell around muscle/soft tissue.
    grow = 1.0 + 0.06 * (z - 0.5)
    a, b, cx, cy = anat.body_a * grow, anat.body_b * grow, anat.body_cx, anat.body_cy
    body = _ellipse(x, y, cx, cy, a, b, anat.body_p)
    inner = _ellipse(x, y, cx, cy, a - anat.fat, b - anat.fat, anat.body_p)
    img = body * fat_lv + inner * (tissue_lv - fat_lv)

    # Lungs: largest mid-chest (z ~ 0.45), smaller at apex and base; medial side cut by the heart.
    s_lung = 0.72 + 0.32 * np.sin(np.pi * np.clip(z * 0.95 + 0.05, 0, 1))
    lungs = np.zeros_like(x)
    centres = []
    for side, scale in ((-1.0, anat.lung_asym), (1.0, 1.0)):
        la = anat.lung_w * a * s_lung * scale
        lb = anat.lung_h * b * s_lung * (0.95 + 0.05 * scale)
        lx = cx + side * (anat.lung_gap + la)
        ly = cy + anat.lung_dy
        centres.append((lx, ly, la, lb))
        lungs = np.maximum(lungs, _ellipse(x, y, lx, ly, la, lb, 2.3))
    lungs *= inner

    # Heart: appears below heart_z0 and grows; it pushes into the left lung (image right).
    grow_h = np.clip((z - anat.heart_z0) / 0.35, 0.0, 1.0) ** 0.6
    heart = np.zeros_like(x)
    if grow_h > 0:
        hr = anat.heart_r * grow_h * b / 0.62
        heart = _ellipse(x, y, cx + anat.heart_dx, cy + anat.heart_dy + 0.1, hr * 1.15, hr, width=0.01)
        lungs *= 1 - heart
    img = img * (1 - lungs) + lungs * lung_lv

    # Lung vessels (bright dots drifting with z) and nodules (round opacities over a z range).
    blobs = np.zeros_like(x)
    for k, (vx, vy, ddx, ddy, vr) in enumerate(anat.vessels):
        lx, ly, la, lb = centres[k % 2]
        px, py = lx + (vx + ddx * (z - 0.5)) * la * 0.8, ly + (vy + ddy * (z - 0.5)) * lb * 0.8
        blobs = np.maximum(blobs, np.exp(-((x - px) ** 2 + (y - py) ** 2) / (vr * vr)))
    for k, (nx, ny, nz, ext, nr) in enumerate(anat.nodules):
        lx, ly, la, lb = centres[k % 2]
        r = nr * np.exp(-0.5 * ((z - nz) / ext) ** 2)
        if r > 0.01:
            blobs = np.maximum(blobs, _ellipse(x, y, lx + nx * la, ly + ny * lb, r, r * 0.9, width=0.008))
    img = img + lungs * blobs * (tissue_lv + 0.05 - lung_lv)

    # Ribs: small bone ovals in the chest wall, on the lateral arc of both sides.
    for t in anat.rib_angles:
        for side in (-1.0, 1.0):
            rx = cx + side * (a - anat.fat - 0.03) * np.cos(t)
            ry = cy + (b - anat.fat - 0.03) * np.sin(t)
            rib = _ellipse(x, y, rx, ry, 0.026, 0.018, width=0.006)
            img = img * (1 - rib) + rib * bone_lv * 0.9

    # Mediastinum: heart (blood level), descending aorta, vertebra with canal and spinous process.
    img = img * (1 - heart) + heart * blood_lv
    sy = cy + b - anat.fat - anat.spine_r * 2.2
    aorta = _ellipse(x, y, cx + anat.spine_r * 1.4, sy - anat.spine_r * 1.6, anat.aorta_r, anat.aorta_r)
    img = img * (1 - aorta) + aorta * blood_lv
    vert = _ellipse(x, y, cx, sy, anat.spine_r, anat.spine_r * 0.9, width=0.008)
    canal = _ellipse(x, y, cx, sy + anat.spine_r * 1.45, anat.spine_r * 0.45, anat.spine_r * 0.4)
    process = _ellipse(x, y, cx, sy + anat.spine_r * 2.3, anat.spine_r * 0.3, anat.spine_r * 0.6)
    bone = np.maximum(vert, process) * (1 - canal)
    img = img * (1 - bone) + bone * bone_lv
    img = img * (1 - canal) + canal * tissue_lv * 0.8

    # Scanner table under the patient.
    table_y = cy + b * grow + 0.08
    img = np.maximum(img, 0.28 * _soft(0.012 - np.abs(y - table_y), 0.004) * (np.abs(x) < 0.85))

    img = img.reshape(size, supersample, size, supersample).mean(axis=(1, 3))  # (size, size)
    noise = rng.normal(0.0, anat.noise, (size + 2, size + 2))
    noise = (noise[1:-1, 1:-1] * 2 + noise[:-2, 1:-1] + noise[1:-1, :-2]) / np.sqrt(6)  # mildly correlated
    img = img + noise * (body.reshape(size, supersample, size, supersample).mean(axis=(1, 3)) + 0.15)
    return np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)


def render_patient(anat: Anatomy, n_slices: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """``n_slices`` consecutive slices of one patient, ``(n_slices, size, size)`` uint8."""
    zs = anat.z0 + anat.dz * np.arange(n_slices)
    return np.stack([render_slice(anat, float(z), size, rng) for z in zs])
