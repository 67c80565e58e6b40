package compat

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The PyPI rows: newer Python clients than Debian's, from
// compat/python/requirements.txt, installed by .ci/compat.sh into the
// project-local virtual environment .cache/venv and run on its interpreter.
// kafka-python and confluent-kafka-python run the same scripts as their
// Debian rows; aiokafka has its own.

// venvDir is relative to this package's directory (the module root's
// .cache/venv, gitignored).
var venvDir = filepath.Join("..", ".cache", "venv")

// venvErrorFile holds pip's output when .ci/compat.sh could not install the
// requirements (no network, a registry refusing a pin), so the rows say why.
var venvErrorFile = filepath.Join("..", ".cache", "venv.error")

func venvPython() string {
	abs, _ := filepath.Abs(filepath.Join(venvDir, "bin", "python"))
	return abs
}

const venvHint = ".ci/compat.sh makes it: python3 -m venv .cache/venv && .cache/venv/bin/pip install -r compat/python/requirements.txt"

// pypiOptional: .ci/compat.sh could not install the PyPI clients outside CI
// (pip failed) and said so; their rows are then "not run" with pip's reason
// instead of failing the suite. CI never sets it.
func pypiOptional() bool { return os.Getenv("REWIND_COMPAT_PYPI_OPTIONAL") == "1" }

// venvModule checks that the venv has dist at the version the row is named
// after (want is a prefix such as "3.0."), importable as module.
func venvModule(dist, module, want string) func() error {
	return func() error {
		py := venvPython()
		if _, err := os.Stat(py); err != nil {
			if b, err := os.ReadFile(venvErrorFile); err == nil {
				return fmt.Errorf("pip install into .cache/venv failed: %s", short(strings.ReplaceAll(strings.TrimSpace(tailLines(string(b), 2)), "\n", " / "), 400))
			}
			return fmt.Errorf("%s missing (%s)", py, venvHint)
		}
		out, err := exec.Command(py, "-c", "import importlib.metadata as m, "+module+"; print(m.version('"+dist+"'))").CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s cannot import %s (%s): %s", py, module, venvHint, strings.TrimSpace(tailLines(string(out), 1)))
		}
		if got := strings.TrimSpace(string(out)); !strings.HasPrefix(got, want) {
			return fmt.Errorf(".cache/venv has %s %s, the row is for %s* (rerun .ci/compat.sh, or rename the row after a pin bump)", dist, got, want)
		}
		return nil
	}
}

func venvScript(name string) []string {
	abs, _ := filepath.Abs(filepath.Join("python", name))
	return []string{venvPython(), abs}
}

const pypiNote = "; PyPI, in .cache/venv (compat/python/requirements.txt)"

func init() {
	register(client{
		name: "kafka-python 3.0 (PyPI)", slug: "kafkapythonpypi", lang: "Python", order: 61, pypi: true,
		available: venvModule("kafka-python", "kafka", "3.0."),
		version: func(ctx context.Context, _ *env) string {
			return scriptVersion(ctx, venvScript("kafka_python_client.py")...) + pypiNote
		},
		newDriver: func(e *env) driver { return script{cmd: venvScript("kafka_python_client.py"), addr: e.addr} },
	})
	register(client{
		name: "confluent-kafka-python 2.16 (PyPI)", slug: "confluentpythonpypi", lang: "Python", order: 71, pypi: true,
		available: venvModule("confluent-kafka", "confluent_kafka", "2.16."),
		version: func(ctx context.Context, _ *env) string {
			return scriptVersion(ctx, venvScript("confluent_kafka_client.py")...) + "; the wheel's bundled librdkafka" + pypiNote
		},
		newDriver: func(e *env) driver { return script{cmd: venvScript("confluent_kafka_client.py"), addr: e.addr} },
	})
	register(client{
		name: "aiokafka 0.14 (PyPI)", slug: "aiokafka", lang: "Python", order: 75, pypi: true,
		available: venvModule("aiokafka", "aiokafka", "0.14."),
		version: func(ctx context.Context, _ *env) string {
			return scriptVersion(ctx, venvScript("aiokafka_client.py")...) + pypiNote
		},
		newDriver: func(e *env) driver { return script{cmd: venvScript("aiokafka_client.py"), addr: e.addr} },
	})
}
