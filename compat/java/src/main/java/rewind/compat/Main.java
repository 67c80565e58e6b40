package rewind.compat;

import java.util.HashMap;
import java.util.Map;
import org.apache.kafka.common.utils.internals.AppInfoParser;

/**
 * One JVM per capability group of the compatibility matrix:
 *
 * <pre>
 *   java -cp ... rewind.compat.Main producer|consumer|admin|streams|txn|share BOOTSTRAP PREFIX
 *   java -cp ... rewind.compat.Main version
 *   java -cp ... rewind.compat.Main member BOOTSTRAP TOPIC GROUP NAME   (ConsumerProtocolMember)
 *   java -cp ... rewind.compat.Main security SPEC                       (Security)
 * </pre>
 *
 * Every check prints one line on stdout, {@code RESULT<TAB>capability<TAB>ok}
 * or {@code RESULT<TAB>capability<TAB>FAIL<TAB>reason}; compat/java_test.go
 * turns them into cells and checks what the broker stored with franz-go.
 * A check passes only on the values, offsets and states it read back. Topic
 * and group names start with PREFIX. The exit status is 0 when every check
 * ran (passed or failed), non-zero when the program itself broke.
 */
public final class Main {
  public static void main(String[] args) throws Exception {
    if (args.length == 1 && args[0].equals("version")) {
      System.out.println("kafka-clients " + AppInfoParser.getVersion() + " (commit " + AppInfoParser.getCommitId()
          + "), Java " + System.getProperty("java.version"));
      return;
    }
    if ((args.length == 5 || args.length == 6) && args[0].equals("member")) {
      ConsumerProtocolMember.run(args[1], args[2], args[3], args[4], args.length == 6 ? args[5] : null);
      System.exit(0);
    }
    if (args.length == 2 && args[0].equals("security")) {
      Report r = new Report();
      Security.run(r, args[1]);
      System.out.flush();
      System.exit(0);
    }
    if (args.length != 3) {
      System.err.println("ERROR: usage: producer|consumer|admin|streams|txn|share BOOTSTRAP PREFIX");
      System.exit(2);
    }
    Report r = new Report();
    String bootstrap = args[1], prefix = args[2];
    switch (args[0]) {
      case "producer" -> Producers.run(r, bootstrap, prefix);
      case "consumer" -> Consumers.run(r, bootstrap, prefix);
      case "admin" -> Admins.run(r, bootstrap, prefix);
      case "streams" -> Streams.run(r, bootstrap, prefix);
      case "txn" -> Txns.run(r, bootstrap, prefix);
      case "share" -> Shares.run(r, bootstrap, prefix);
      default -> {
        System.err.println("ERROR: unknown mode " + args[0]);
        System.exit(2);
      }
    }
    System.out.flush();
    // Kafka Streams and the clients leave non-daemon threads behind on some
    // failures; the verdicts are printed, so end here.
    System.exit(0);
  }

  /** A check: returns normally when it passed, throws with the reason. */
  interface Check {
    void run() throws Exception;
  }

  static final class Report {
    private final Map<String, Boolean> passed = new HashMap<>();

    /** Runs the check unless one it depends on failed, and prints it. */
    boolean check(String capability, Check c, String... dependsOn) {
      for (String d : dependsOn) {
        if (!passed.getOrDefault(d, false)) {
          return print(capability, "not run: " + d + " failed");
        }
      }
      try {
        c.run();
        return print(capability, null);
      } catch (Throwable t) {
        return print(capability, describe(t));
      }
    }

    private boolean print(String capability, String failure) {
      passed.put(capability, failure == null);
      if (failure == null) {
        System.out.println("RESULT\t" + capability + "\tok");
      } else {
        System.out.println("RESULT\t" + capability + "\tFAIL\t" + failure.replace('\n', ' ').replace('\t', ' '));
      }
      System.out.flush();
      return failure == null;
    }
  }

  /** The exception chain, outermost first, as the client reported it. */
  static String describe(Throwable t) {
    StringBuilder b = new StringBuilder();
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (b.length() > 0) {
        b.append(" / caused by ");
      }
      b.append(c.getClass().getSimpleName());
      if (c.getMessage() != null) {
        b.append(": ").append(c.getMessage());
      }
      if (c.getCause() == c) {
        break;
      }
    }
    return b.toString();
  }

  static void expect(boolean ok, String format, Object... args) {
    if (!ok) {
      throw new AssertionError(String.format(format, args));
    }
  }

  static void expectEq(Object got, Object want, String what) {
    if (!java.util.Objects.equals(got, want)) {
      throw new AssertionError(what + ": got " + got + ", want " + want);
    }
  }

  private Main() {}
}
