#!/usr/bin/env node
// Drives KafkaJS for Rewind's compatibility suite.
//
// Usage: kafkajs_client.js OP BOOTSTRAP [ARGS]
//   version
//   create BOOTSTRAP PARTITIONS TOPIC...
//   metadata BOOTSTRAP              prints topic names
//   produce BOOTSTRAP TOPIC CODEC   values on stdin, one a line
//   consume BOOTSTRAP TOPIC N       prints N values read from the beginning
//   group BOOTSTRAP TOPIC GROUP N   joins GROUP, prints N values, commits, leaves
//   security SPEC                   the security cases of SPEC (compat/security_test.go):
//                                   per case RESULT<TAB>name<TAB>ok|FAIL<TAB>reason
//
// Failures print "ERROR: ..." on stderr and exit 1.
//
// KafkaJS ships gzip only. snappy and lz4 use the codec packages KafkaJS's
// documentation points to (kafkajs-snappy; @2l/kafkajs-lz4, a prebuilt
// lz4-napi fork of kafkajs-lz4, whose native build needs node-gyp). There is
// no zstd codec package that installs without compiling, so zstd is the
// small adapter below over @bokuweb/zstd-wasm.
'use strict'

const { Kafka, CompressionTypes, CompressionCodecs, logLevel } = require('kafkajs')
const SnappyCodec = require('kafkajs-snappy')
const LZ4Codec = require('@2l/kafkajs-lz4').default || require('@2l/kafkajs-lz4')
const zstd = require('@bokuweb/zstd-wasm')

CompressionCodecs[CompressionTypes.Snappy] = SnappyCodec
CompressionCodecs[CompressionTypes.LZ4] = new LZ4Codec().codec
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  async compress (encoder) {
    await zstd.init()
    return Buffer.from(zstd.compress(encoder.buffer, 3))
  },
  async decompress (buffer) {
    await zstd.init()
    return Buffer.from(zstd.decompress(buffer))
  }
})

const codecs = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD
}

const deadline = Date.now() + 50000

function fail (msg) {
  process.stderr.write('ERROR: ' + msg + '\n')
  process.exit(1)
}

function pkgVersion (name) {
  const fs = require('fs')
  const path = require('path')
  return JSON.parse(fs.readFileSync(path.join(__dirname, 'node_modules', name, 'package.json'), 'utf8')).version
}

function kafka (bootstrap) {
  return new Kafka({
    clientId: 'rewind-compat-kafkajs',
    brokers: [bootstrap],
    logLevel: logLevel.ERROR,
    logCreator: () => ({ namespace, log }) => {
      process.stderr.write(`kafkajs ${namespace}: ${log.message}${log.error ? ' (' + log.error + ')' : ''}\n`)
    }
  })
}

function readStdin () {
  return new Promise((resolve) => {
    let data = ''
    process.stdin.setEncoding('utf8')
    process.stdin.on('data', (c) => { data += c })
    process.stdin.on('end', () => resolve(data.split('\n').filter((l) => l !== '')))
  })
}

// consumeN runs a consumer until n messages arrived, then commits (when asked)
// the offset after the n-th and disconnects, which leaves the group.
async function consumeN (k, topic, groupId, n, commit) {
  const consumer = k.consumer({ groupId, maxWaitTimeInMs: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  let done
  const finished = new Promise((resolve) => { done = resolve })
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      if (got.length >= n) return
      got.push(message)
      if (got.length === n) {
        consumer.pause([{ topic }])
        if (commit) {
          const next = (BigInt(message.offset) + 1n).toString()
          await consumer.commitOffsets([{ topic, partition, offset: next }])
        }
        done()
      }
    }
  })
  const timer = setTimeout(done, Math.max(1000, deadline - Date.now()))
  await finished
  clearTimeout(timer)
  await consumer.disconnect()
  for (const m of got) process.stdout.write(m.value.toString() + '\n')
  if (got.length < n) fail(`read ${got.length} of ${n} records before the deadline`)
}

// unsignedJWT is header.payload. with no signature (RFC 7519's unsecured
// JWT): sub, iat and an exp an hour on.
function unsignedJWT (sub) {
  const enc = (o) => Buffer.from(JSON.stringify(o)).toString('base64url')
  const now = Math.floor(Date.now() / 1000)
  return enc({ alg: 'none' }) + '.' + enc({ sub, iat: now, exp: now + 3600 }) + '.'
}

// securityCase produces c's values over TLS or SASL_SSL, configured as
// KafkaJS's documentation shows (ssl with ca/cert/key, sasl with the
// mechanism), and reads them back with a group of its own.
async function securityCase (c) {
  const fs = require('fs')
  const ssl = { ca: [fs.readFileSync(c.ca)] }
  if (c.cert) {
    ssl.cert = fs.readFileSync(c.cert)
    ssl.key = fs.readFileSync(c.key)
  }
  const cfg = {
    clientId: 'rewind-compat-kafkajs',
    brokers: [c.bootstrap],
    ssl,
    connectionTimeout: 5000,
    retry: { retries: 1 },
    logLevel: logLevel.NOTHING
  }
  if (c.mechanism === 'OAUTHBEARER') {
    // KafkaJS's oauthBearerProvider, handing out an unsigned JWT (alg
    // none) for the user, as --sasl-oauthbearer-unsecured takes it.
    cfg.sasl = { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: unsignedJWT(c.username) }) }
  } else if (c.mechanism) {
    cfg.sasl = { mechanism: c.mechanism.toLowerCase(), username: c.username, password: c.password }
  }
  const k = new Kafka(cfg)
  const producer = k.producer()
  try {
    await producer.connect()
    await producer.send({ topic: c.topic, acks: -1, messages: c.values.map((value) => ({ value, partition: 0 })) })
  } finally {
    await producer.disconnect()
  }
  const consumer = k.consumer({ groupId: `sec-kafkajs-reader-${process.pid}-${c.topic}`, maxWaitTimeInMs: 500 })
  const got = []
  try {
    await consumer.connect()
    await consumer.subscribe({ topics: [c.topic], fromBeginning: true })
    let done
    const finished = new Promise((resolve) => { done = resolve })
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ message }) => {
        got.push(message.value.toString())
        if (got.length >= c.values.length) done()
      }
    })
    const timer = setTimeout(done, 20000)
    await finished
    clearTimeout(timer)
  } finally {
    await consumer.disconnect()
  }
  return got
}

async function security (spec) {
  const { cases } = JSON.parse(require('fs').readFileSync(spec, 'utf8'))
  for (const c of cases) {
    let line = 'ok'
    try {
      const got = await securityCase(c)
      if (JSON.stringify(got) !== JSON.stringify(c.values)) throw new Error(`read back ${JSON.stringify(got)}, want ${JSON.stringify(c.values)}`)
    } catch (e) {
      line = `FAIL\t${e && e.name}: ${String(e && e.message).replace(/[\t\n]/g, ' ')}${e && e.type ? ' (' + e.type + ')' : ''}`
    }
    process.stdout.write(`RESULT\t${c.name}\t${line}\n`)
  }
}

async function main () {
  const [op, bootstrap, ...args] = process.argv.slice(2)
  if (op === 'security') return security(bootstrap)
  if (op === 'version') {
    console.log(`kafkajs ${pkgVersion('kafkajs')} (Node.js ${process.versions.node}; codecs: kafkajs-snappy ${pkgVersion('kafkajs-snappy')}, @2l/kafkajs-lz4 ${pkgVersion('@2l/kafkajs-lz4')}, zstd adapter over @bokuweb/zstd-wasm ${pkgVersion('@bokuweb/zstd-wasm')})`)
    return
  }
  const k = kafka(bootstrap)
  switch (op) {
    case 'create': {
      const [parts, ...topics] = args
      const admin = k.admin()
      await admin.connect()
      await admin.createTopics({ waitForLeaders: true, topics: topics.map((topic) => ({ topic, numPartitions: Number(parts), replicationFactor: 1 })) })
      await admin.disconnect()
      break
    }
    case 'metadata': {
      const admin = k.admin()
      await admin.connect()
      for (const t of await admin.listTopics()) console.log(t)
      await admin.disconnect()
      break
    }
    case 'produce': {
      const [topic, codec] = args
      const values = await readStdin()
      const producer = k.producer()
      await producer.connect()
      await producer.send({ topic, acks: -1, compression: codecs[codec], messages: values.map((value) => ({ value, partition: 0 })) })
      await producer.disconnect()
      break
    }
    case 'consume': {
      // KafkaJS has no consumer without a group: a group of its own, never
      // committed, reading from the beginning.
      const [topic, n] = args
      await consumeN(k, topic, `rewind-compat-kafkajs-${process.pid}-${Date.now()}`, Number(n), false)
      break
    }
    case 'group': {
      const [topic, group, n] = args
      await consumeN(k, topic, group, Number(n), true)
      break
    }
    default:
      fail('unknown op ' + op)
  }
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write((e && e.stack) + '\n')
  fail(`${e && e.name}: ${e && e.message}`)
})
