"""What each kind of target needs installed here, and the commands that would install it."""

from __future__ import annotations

from efbuild.matrix import Matrix
from efbuild.provision import Plan, plan_for
from efbuild.toolchain import enable_commands


def resolve(project_dir, triple):
    return Matrix(project_dir / "targets").resolve(triple, environ={})


def test_host_target_needs_nothing(project_dir):
    assert plan_for(resolve(project_dir, "x86_64-unknown-linux-gnu")) == Plan((), ())


def test_foreign_gnu_needs_the_debian_std_of_its_arch_and_qemu(project_dir):
    plan = plan_for(resolve(project_dir, "aarch64-unknown-linux-gnu"))
    assert plan.architectures == ("arm64",)
    assert "libstd-rust-web-dev:arm64" in plan.packages and "qemu-user" in plan.packages


def test_darwin_needs_std_source_and_no_emulator(project_dir):
    plan = plan_for(resolve(project_dir, "aarch64-apple-darwin"))
    assert plan.architectures == ()
    assert "rust-web-src" in plan.packages and "qemu-user" not in plan.packages


def test_foreign_musl_needs_std_source_and_qemu(project_dir):
    plan = plan_for(resolve(project_dir, "aarch64-unknown-linux-musl"))
    assert {"rust-web-src", "qemu-user"} <= set(plan.packages)


def test_plan_commands_are_non_interactive_and_merge_without_repeats(project_dir):
    merged = plan_for(resolve(project_dir, "aarch64-unknown-linux-gnu")).merged(
        plan_for(resolve(project_dir, "x86_64-apple-darwin")))
    assert len(merged.packages) == len(set(merged.packages))
    commands = [" ".join(c) for c in merged.commands()]
    assert commands[0] == "dpkg --add-architecture arm64"
    assert commands[-1].startswith("apt-get install -y --no-install-recommends")


def test_enable_commands_name_efbuild_apt_and_rustup(project_dir):
    commands = enable_commands(resolve(project_dir, "aarch64-unknown-linux-gnu"))
    assert commands[0] == "efbuild toolchain install aarch64-unknown-linux-gnu"
    assert "libstd-rust-web-dev:arm64" in commands[1]
    assert commands[2].startswith("rustup target add aarch64-unknown-linux-gnu")
