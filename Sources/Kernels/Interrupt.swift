import Foundation
import Synchronization

/// Ctrl-C as a request, not a kill: while installed, SIGINT only sets a flag that long jobs
/// (training steps, generation) poll at safe points, so they stop at a step boundary with the
/// record and checkpoint intact. A second Ctrl-C while a request is pending exits at once.
public enum Interrupt {
    private static let flag = Atomic<Bool>(false)

    public static var requested: Bool { flag.load(ordering: .relaxed) }
    public static func request() { flag.store(true, ordering: .relaxed) }
    public static func clear() { flag.store(false, ordering: .relaxed) }

    /// Installs the SIGINT handler (idempotent).
    public static func install() {
        // A parent may hand us SIGINT blocked (Foundation's Process from a test runner does);
        // a blocked Ctrl-C would never reach the handler.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        signal(SIGINT) { _ in
            if Interrupt.flag.exchange(true, ordering: .relaxed) {
                let msg = "\ninterrupted twice: exiting\n"
                _ = msg.withCString { write(2, $0, strlen($0)) }
                _exit(130)
            }
        }
    }
}
