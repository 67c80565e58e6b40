package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// The recompress scenario: producers send 1 KiB records of text-like
// values (about 4 times smaller compressed), batched and compressed with
// lz4, to a topic whose compression.type is producer (the batches are
// stored as sent) and to one whose compression.type is zstd (the broker
// decompresses each batch and compresses it again, as Kafka does). The
// figures are the acknowledged rate (record values, uncompressed) and the
// broker process's CPU, user and system from /proc/<pid>/stat over the
// measured window, per MB of values: what recompressing costs against
// storing as sent, on Rewind (a child `rewind serve`, --fsync=always) and
// on Kafka. kfake is not measured: it stores batches as sent whatever the
// topic's compression.type.

// RecompressCodec is the topic codec of the recompressing case, and
// RecompressProducerCodec the producer's.
const (
	RecompressCodec         = "zstd"
	RecompressProducerCodec = "lz4"
)

// textPayload is random words: values cut from it compress about 4 to 1.
// Made on first use, not at every start of the rewind binary.
var textPayload = sync.OnceValue(func() []byte {
	words := strings.Fields("the of and to in is was that for on with as by at from his her it an were are which this be or have had not but one all they their there been has when who will more no if out so said what up its about into than them can only other new some time could these two may then do first any my now such like our over man me even most made after also did many before must through back years where much your way well down should because each just those people")
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 8<<20 {
		b.WriteString(words[rng.IntN(len(words))])
		b.WriteByte(' ')
		if rng.IntN(12) == 0 {
			fmt.Fprintf(&b, "%d ", rng.IntN(100000))
		}
	}
	return []byte(b.String())
})

func textValue(rng *rand.Rand, size int) []byte {
	p := textPayload()
	off := rng.IntN(len(p) - size)
	return p[off : off+size : off+size]
}

func (r *runner) recompress(ctx context.Context) error {
	if r.external() || r.cfg.Exe == "" {
		r.logf("recompress: skipped (needs the rewind binary, and Rewind not external)")
		return nil
	}
	name := fmt.Sprintf("produce 1 KiB text, %s batches, %d producer(s), acks=%s", RecompressProducerCodec, r.cfg.Producers, r.cfg.Acks)
	systems := []system{r.rewindServe(), r.kafkaSystem(false)}
	runs, err := r.ab(ctx, name, systems, func(t target) ([]float64, error) {
		var out []float64
		for _, codec := range []string{"producer", RecompressCodec} {
			mbs, cpu, err := recompressRun(ctx, &r.cfg, t, codec)
			if err != nil {
				return nil, err
			}
			out = append(out, mbs, cpu)
		}
		return out, nil
	})
	if err != nil {
		return err
	}
	for i, label := range []string{"topic compression.type=producer (stored as sent)", "topic compression.type=" + RecompressCodec + " (recompressed)"} {
		r.add(newFigure(name+", "+label, "MB/s", runs[0][2*i], nil, 0, "", goal{}).withKafka(runs[1][2*i], nil))
		r.add(newFigure("  broker CPU per MB of values, "+label, "ms/MB", runs[0][2*i+1], nil, 0, "", goal{}).withKafka(runs[1][2*i+1], nil))
	}
	return nil
}

// recompressRun produces to a new topic of the given compression.type
// and returns the acknowledged MB/s and the broker's CPU ms per MB.
func recompressRun(ctx context.Context, cfg *Config, t target, codec string) (float64, float64, error) {
	p, ok := t.(process)
	if !ok {
		return 0, 0, fmt.Errorf("recompress: %T is not a process", t)
	}
	topic, err := createTopic(ctx, t, "recompress-"+codec, 1)
	if err != nil {
		return 0, 0, err
	}
	defer deleteTopic(t, topic)
	adm, cl, err := admin(t)
	if err != nil {
		return 0, 0, err
	}
	v := codec
	rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "compression.type", Value: &v}}, topic)
	if err == nil {
		err = rs[0].Err
	}
	cl.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("compression.type=%s: %w", codec, err)
	}
	pc := *cfg
	pc.Compression = RecompressProducerCodec
	type cpuWindow struct {
		d   time.Duration
		err error
	}
	win := make(chan cpuWindow, 1)
	go func() {
		if !sleepCtx(ctx, cfg.Warmup) {
			win <- cpuWindow{err: ctx.Err()}
			return
		}
		c0, err := procCPU(p.pid())
		if err != nil {
			win <- cpuWindow{err: err}
			return
		}
		if !sleepCtx(ctx, cfg.Duration-cfg.Warmup) {
			win <- cpuWindow{err: ctx.Err()}
			return
		}
		c1, err := procCPU(p.pid())
		win <- cpuWindow{c1 - c0, err}
	}()
	rt, err := produce(ctx, &pc, t, produceSpec{
		topic: topic, recordSize: 1024, producers: cfg.Producers,
		duration: cfg.Duration, warmup: cfg.Warmup, text: true,
	})
	w := <-win
	if err == nil {
		err = w.err
	}
	if err != nil {
		return 0, 0, err
	}
	mbs := rt.bytes / mb
	secs := (cfg.Duration - cfg.Warmup).Seconds()
	return mbs, 1000 * w.d.Seconds() / (mbs * secs), nil
}
