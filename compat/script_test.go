package compat

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// script drives a client through a small program in compat/python or
// compat/node that speaks one command line per operation (see the header of
// compat/python/kafka_python_client.py). Every operation is a new process.
type script struct {
	cmd  []string // interpreter and script
	addr string
}

func (s script) run(ctx context.Context, stdin string, args ...string) ([]string, error) {
	p := &proc{name: s.cmd[0], args: append(append([]string{}, s.cmd[1:]...), args...), stdin: stdin}
	err := p.run(ctx)
	return lines(p.stdout.String()), err
}

func (s script) Create(ctx context.Context, topics []string, partitions int) error {
	_, err := s.run(ctx, "", append([]string{"create", s.addr, fmt.Sprint(partitions)}, topics...)...)
	return err
}

func (s script) Metadata(ctx context.Context) ([]string, error) {
	return s.run(ctx, "", "metadata", s.addr)
}

func (s script) Produce(ctx context.Context, topic, codec string, values []string) error {
	_, err := s.run(ctx, strings.Join(values, "\n")+"\n", "produce", s.addr, topic, codec)
	return err
}

func (s script) Consume(ctx context.Context, topic string, n int) ([]string, error) {
	return s.run(ctx, "", "consume", s.addr, topic, fmt.Sprint(n))
}

func (s script) GroupConsume(ctx context.Context, topic, group string, n int) ([]string, error) {
	return s.run(ctx, "", "group", s.addr, topic, group, fmt.Sprint(n))
}

// scriptVersion runs the script's version operation.
func scriptVersion(ctx context.Context, cmd ...string) string {
	p := &proc{name: cmd[0], args: append(cmd[1:], "version")}
	if err := p.run(ctx); err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return strings.TrimSpace(p.stdout.String())
}

// The Python clients come from Debian and run on Debian's interpreter, not
// whatever python3 is first on PATH.
const debianPython = "/usr/bin/python3"

func pythonModule(module, pkg string) func() error {
	return func() error {
		if _, err := os.Stat(debianPython); err != nil {
			return fmt.Errorf("%s missing (Debian package python3)", debianPython)
		}
		out, err := exec.Command(debianPython, "-c", "import "+module).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s cannot import %s (Debian package %s): %s", debianPython, module, pkg, strings.TrimSpace(tailLines(string(out), 1)))
		}
		return nil
	}
}

// kafkaPythonCodecs are the optional modules kafka-python compresses
// with, and their Debian packages: python3-kafka only suggests them.
var kafkaPythonCodecs = map[string][2]string{
	"snappy": {"snappy", "python3-snappy"},
	"lz4":    {"lz4.frame", "python3-lz4"},
	"zstd":   {"zstandard", "python3-zstandard"},
}

func kafkaPythonCodec(codec string) error {
	m, ok := kafkaPythonCodecs[codec]
	if !ok {
		return nil // gzip: the standard library
	}
	return pythonModule(m[0], m[1])()
}

func pyScript(name string) []string {
	abs, _ := filepath.Abs(filepath.Join("python", name))
	return []string{debianPython, abs}
}

func init() {
	register(client{
		name: "kafka-python", slug: "kafkapython", lang: "Python", order: 60,
		available: pythonModule("kafka", "python3-kafka"),
		version: func(ctx context.Context, _ *env) string {
			return scriptVersion(ctx, pyScript("kafka_python_client.py")...) +
				"; Debian python3-kafka " + debVersion("python3-kafka") +
				", python3-snappy " + debVersion("python3-snappy") +
				", python3-lz4 " + debVersion("python3-lz4") +
				", python3-zstandard " + debVersion("python3-zstandard")
		},
		newDriver:      func(e *env) driver { return script{cmd: pyScript("kafka_python_client.py"), addr: e.addr} },
		codecAvailable: kafkaPythonCodec,
	})
	register(client{
		name: "confluent-kafka-python", slug: "confluentpython", lang: "Python", order: 70,
		available: pythonModule("confluent_kafka", "python3-confluent-kafka"),
		version: func(ctx context.Context, _ *env) string {
			return scriptVersion(ctx, pyScript("confluent_kafka_client.py")...) +
				"; Debian python3-confluent-kafka " + debVersion("python3-confluent-kafka") +
				", librdkafka1 " + debVersion("librdkafka1")
		},
		newDriver: func(e *env) driver { return script{cmd: pyScript("confluent_kafka_client.py"), addr: e.addr} },
	})
	register(client{
		name: "KafkaJS", slug: "kafkajs", lang: "Node.js", order: 80,
		available: func() error {
			if _, err := exec.LookPath("node"); err != nil {
				return errors.New("node not on PATH")
			}
			if _, err := os.Stat(filepath.Join("node", "node_modules", "kafkajs", "package.json")); err != nil {
				return errors.New("compat/node/node_modules missing (npm ci in compat/node)")
			}
			return nil
		},
		version: func(ctx context.Context, _ *env) string {
			return scriptVersion(ctx, nodeScript()...)
		},
		newDriver: func(e *env) driver { return script{cmd: nodeScript(), addr: e.addr} },
	})
}

func nodeScript() []string {
	abs, _ := filepath.Abs(filepath.Join("node", "kafkajs_client.js"))
	return []string{"node", abs}
}
