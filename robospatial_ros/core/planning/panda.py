"""The Franka Emika Panda for the MuJoCo tabletop, built from the URDF that ships in `pybullet_data`.

The URDF (`pybullet_data/franka_panda/panda.urdf`, meshes included) loads through
`mujoco.MjSpec`; we then make it simulate like a position-controlled Panda:
- mesh paths resolved against the URDF's directory (the file says `package://meshes/...`);
- realistic inertias (the URDF carries a placeholder 0.1 kg m^2 everywhere): the shape's
  inertia from the collision mesh, scaled to the URDF's link mass;
- gravity compensation on every link (the real controller compensates gravity, so a stiff
  position servo tracks without sag), joint damping and rotor armature;
- position actuators on the 7 arm joints and one on the fingers, which are coupled by an
  equality constraint (the URDF's `<mimic>`), force-limited like the real hand (70 N);
- high-friction, torsional-friction contact on the finger geoms so a friction grasp holds;
- a site `tcp` at the grasp centre between the fingertips (the hand frame offset 0.1034 m along
  its z axis, MoveIt's `panda_hand_tcp`), whose axes are the hand's: z the approach direction,
  y the finger travel axis.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from robospatial_ros.core.errors import RoboSpatialError

if TYPE_CHECKING:
    import mujoco

ARM_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8))
FINGER_JOINTS = ("panda_finger_joint1", "panda_finger_joint2")
ARM_BODIES = tuple(f"panda_link{i}" for i in range(1, 8)) + ("panda_leftfinger", "panda_rightfinger")
FINGER_BODIES = ("panda_leftfinger", "panda_rightfinger")
TCP_SITE = "tcp"
# (7,) rad: the usual "ready" pose: hand pointing down, TCP 0.49 m above the base, behind every object
# as the camera sees it.
HOME_Q = np.array([0.0, -0.785398, 0.0, -2.356194, 0.0, 1.570796, 0.785398])
TCP_OFFSET_M = 0.1034  # hand frame -> grasp centre, along hand z (MoveIt's panda_hand_tcp)
FINGER_MAX_M = 0.04  # each finger travels 0..4 cm: the hand opens 8 cm
GRIP_FORCE_N = 70.0  # the Panda hand's continuous grasp force
# Position-servo stiffness (N m / rad) as on MuJoCo Menagerie's Panda: stiff shoulder, softer wrist.
# Damping is set for a critically damped servo (Menagerie's kv = kp / 10 lags 0.1 s behind the target).
ARM_KP = (4500.0, 4500.0, 3500.0, 3500.0, 2000.0, 2000.0, 2000.0)
ARM_DAMPRATIO = 1.0
ARM_FORCE_NM = (87.0, 87.0, 87.0, 87.0, 12.0, 12.0, 12.0)
FINGER_FRICTION = (1.5, 0.02, 0.0002)  # sliding, torsional, rolling
# Link colours: the white Panda with dark joints, so the arm reads as a robot in the images.
WHITE = (0.92, 0.92, 0.92, 1.0)
DARK = (0.25, 0.25, 0.27, 1.0)


def import_mujoco() -> Any:
    """The mujoco module, or a one-line RoboSpatialError telling how to install it."""
    try:
        import mujoco
    except ImportError:
        raise RoboSpatialError("the MuJoCo tabletop needs mujoco: install mujoco (pip install mujoco)") from None
    return mujoco


def panda_urdf_dir() -> Path:
    """Directory holding `panda.urdf` and `meshes/` inside the installed pybullet_data."""
    try:
        import pybullet_data
    except ImportError:
        raise RoboSpatialError(
            "the MuJoCo tabletop needs the Panda model shipped in pybullet: install pybullet (pip install pybullet)"
        ) from None
    path = Path(pybullet_data.getDataPath()) / "franka_panda"
    if not (path / "panda.urdf").is_file():
        raise RoboSpatialError(f"Panda URDF not found at {path / 'panda.urdf'}; reinstall pybullet")
    return path


def load_panda_spec() -> mujoco.MjSpec:
    """The Panda URDF as an MjSpec: base (link0) fixed at the world origin, collision meshes."""
    mujoco = import_mujoco()
    root = panda_urdf_dir()
    # MuJoCo resolves mesh files against meshdir; `package://` has no meaning outside ROS.
    text = (root / "panda.urdf").read_text(encoding="utf-8").replace("package://", "")
    spec = mujoco.MjSpec.from_string(text)
    spec.meshdir = str(root)
    # Static links fused by the importer would lose their names; keep panda_hand for the TCP site.
    spec.compiler.fusestatic = False
    # The URDF importer already dropped the <visual> meshes (the collision meshes render well enough);
    # keep the scene's own visual-only geoms.
    spec.compiler.discardvisual = False
    return spec


def _realistic_inertias(spec: mujoco.MjSpec) -> None:
    """Replace the URDF's placeholder inertias by the mesh shapes' inertia at the URDF masses."""
    mujoco = import_mujoco()
    probe = spec.copy()
    probe.compiler.inertiafromgeom = mujoco.mjtInertiaFromGeom.mjINERTIAFROMGEOM_TRUE  # integrate the meshes
    model = probe.compile()
    for body in spec.bodies[1:]:
        mass = body.mass
        if mass <= 0.0:
            continue
        shape = model.body(body.name)
        body.inertia = shape.inertia * (mass / max(float(shape.mass[0]), 1e-9))
        body.ipos = shape.ipos
        body.iquat = shape.iquat
        body.fullinertia = np.full(6, np.nan)
        body.explicitinertial = True


def _style_geoms(spec: mujoco.MjSpec) -> None:
    """Colours, groups and contact parameters of the robot's geoms."""
    for body in spec.bodies:
        for geom in body.geoms:
            dark = body.name in ("panda_link7", "panda_hand", *FINGER_BODIES)
            geom.rgba = DARK if dark else WHITE
            geom.name = geom.name or f"panda/{body.name}"
            geom.group = 2
            if body.name in FINGER_BODIES:
                geom.friction = FINGER_FRICTION
                geom.condim = 6  # torsional + rolling friction: a two-point grasp must not pivot
                geom.priority = 1  # the fingers' friction wins over the object's
                geom.solref = (0.004, 1.0)  # stiff, critically damped pads
                geom.solimp = (0.95, 0.99, 0.001, 0.5, 2.0)


def _add_actuators(spec: mujoco.MjSpec) -> None:
    """Position servos on the arm joints and the (coupled) fingers; damping and armature."""
    mujoco = import_mujoco()
    for i, name in enumerate(ARM_JOINTS):
        joint = spec.joint(name)
        joint.damping = (1.0, 0.0, 0.0)  # MuJoCo 4: (linear, quadratic, cubic)
        joint.armature = 0.1
        act = spec.add_actuator(name=f"act_{name}", target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        act.set_to_position(kp=ARM_KP[i], dampratio=ARM_DAMPRATIO)
        act.ctrlrange = joint.range
        act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
        act.forcerange = (-ARM_FORCE_NM[i], ARM_FORCE_NM[i])
        act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE
    for name in FINGER_JOINTS:
        spec.joint(name).damping = (10.0, 0.0, 0.0)
        spec.joint(name).armature = 0.05
    # One servo drives finger 1; finger 2 mirrors it (URDF <mimic>), as the real hand's one motor.
    equality = spec.add_equality(type=mujoco.mjtEq.mjEQ_JOINT, name1=FINGER_JOINTS[1], name2=FINGER_JOINTS[0])
    equality.objtype = mujoco.mjtObj.mjOBJ_JOINT
    equality.data[:5] = (0.0, 1.0, 0.0, 0.0, 0.0)
    act = spec.add_actuator(name="act_fingers", target=FINGER_JOINTS[0], trntype=mujoco.mjtTrn.mjTRN_JOINT)
    # kp in N/m. Grasps command the fingers shut (0), so the force limit, reached 2.3 cm from the target,
    # sets the squeeze on any object wider than 4.7 cm; thinner ones still get 3000 N/m x half their width.
    act.set_to_position(kp=3000.0, kv=100.0)
    act.ctrlrange = (0.0, FINGER_MAX_M)
    act.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE
    act.forcerange = (-GRIP_FORCE_N, GRIP_FORCE_N)
    act.forcelimited = mujoco.mjtLimited.mjLIMITED_TRUE


def build_panda_spec() -> mujoco.MjSpec:
    """The simulation-ready Panda (see the module docstring); add the scene to the returned spec."""
    spec = load_panda_spec()
    _realistic_inertias(spec)
    _style_geoms(spec)
    for name in ARM_BODIES:
        spec.body(name).gravcomp = 1.0
    spec.body("panda_hand").gravcomp = 1.0
    hand = spec.body("panda_hand")
    hand.add_site(name=TCP_SITE, pos=(0.0, 0.0, TCP_OFFSET_M), size=(0.005, 0.005, 0.005), group=4)
    _add_actuators(spec)
    return spec


@dataclass(frozen=True)
class PandaHandles:
    """Indices of the Panda's joints, actuators and TCP site in a compiled model."""

    arm_qpos: np.ndarray  # (7,) int, qpos addresses of panda_joint1..7
    arm_dof: np.ndarray  # (7,) int, dof (qvel) addresses
    finger_qpos: np.ndarray  # (2,) int
    arm_act: np.ndarray  # (7,) int, actuator ids
    finger_act: int
    tcp_site: int
    lower: np.ndarray  # (7,) joint limits, rad
    upper: np.ndarray

    @classmethod
    def from_model(cls, model: Any) -> PandaHandles:
        arm = [model.joint(n) for n in ARM_JOINTS]
        return cls(
            arm_qpos=np.array([int(model.jnt_qposadr[j.id]) for j in arm]),
            arm_dof=np.array([int(model.jnt_dofadr[j.id]) for j in arm]),
            finger_qpos=np.array([int(model.jnt_qposadr[model.joint(n).id]) for n in FINGER_JOINTS]),
            arm_act=np.array([model.actuator(f"act_{n}").id for n in ARM_JOINTS]),
            finger_act=int(model.actuator("act_fingers").id),
            tcp_site=int(model.site(TCP_SITE).id),
            lower=np.array([model.jnt_range[j.id][0] for j in arm]),
            upper=np.array([model.jnt_range[j.id][1] for j in arm]),
        )

    def hold(self, data: Any, q: np.ndarray, finger_m: float) -> None:
        """Teleport the arm to q (7,) rad and the fingers to finger_m each, at rest, servos holding there."""
        data.qpos[self.arm_qpos] = q
        data.qpos[self.finger_qpos] = finger_m
        data.qvel[self.arm_dof] = 0.0
        data.ctrl[self.arm_act] = q
        data.ctrl[self.finger_act] = finger_m

    def finger_width_m(self, data: Any) -> float:
        """Distance between the finger pads, metres (0 closed, 0.08 open)."""
        return float(data.qpos[self.finger_qpos].sum())
