// The function-shipping queue, its piggy-back IPI rule, the consumer's
// sleep protocol, and the cancellation of a call whose caller dies.
//
// Follows, one to one (same state and event names):
//   Kernel/Core/Shipping/ShippingQueue.swift  enqueue (Vyukov claim, publish,
//       count, raiseIPI when the count was 0), dequeue (.message, .empty,
//       .inProgress), markConsumed (.drainMore, .sleep), drain (.asleep,
//       .nothingPending, .stalled)
//   Kernel/Instance/LWKControl.swift  serve(): x86_cli, `pending > 0` or
//       Scheduler.block(), x86_sti, drain; the doorbell wakes the blocked
//       server thread (Scheduler.wake is a no-op on a thread not .blocked)
//   Kernel/Instance/FunctionShipping.swift  ship/post/awaitReply (per-CPU
//       nextTag, late replies dropped by tag), cancel(tag:) with cancelNumber
//       when killRequested, serve(): consoleWrite answered at once,
//       consoleRead parked in pendingReads and answered by inputArrived,
//       cancelNumber removes pendingReads with that tag and process
//   Tests/CoreTests/ShippingQueueTests.swift  the properties below
// A composite: in the kernel, function shipping rides on DTU KernelRing
// channels (prepareToSleep is the wake rule) and ShippingQueue carries the
// LWK control requests; here shipped calls travel through ShippingQueue
// and are served by LWKControl.serve's loop. The reply direction is a
// channel per LWK CPU (its reply ring), received blocking (the hlt).
//
// Configuration (NPROD, NCALLS, CAP may be overridden with -D): 2 LWK CPUs
// x 2 calls each, every call nondeterministically a consoleWrite or a
// consoleRead, queue capacity 2 (so .full and the retry are reached: a
// cancel and the next call can be queued behind the other CPU's call),
// reply rings of 3; CPU 0's process may be killed during any one of its
// calls (at most once). 3 CPUs do not finish within 60 s.
// Properties, checked exhaustively:
//   P1 no request lost or duplicated, P2 per-producer order: the server
//      checks each request's ghost serial against the next expected one
//      from that CPU (assert), and when everything is quiet (all calls done,
//      server .blocked, no doorbell latched) every request posted was
//      handled once and the queue and the pending counter are empty (assert
//      in Quiescence);
//   P3 no lost wake-up: the Watchdog asserts in every reachable state that
//      never is the server .blocked with a request claimed, published or
//      counted while no doorbell is latched and no producer is still on its
//      way to raise one; and a lost wake-up also ends in an invalid end state
//      (a caller waiting for its reply forever);
//   P4 a cancelled call's reply is never taken as the answer to a later
//      call: awaitReply asserts that the reply it accepts answers this very
//      call (ghost serial) and that its tag is not a cancelled one; a cancel
//      removes only the cancelled call's pending read (assert);
//   P5 no deadlock: no invalid end state (pan's default check).
//
// BROKEN (-DBROKEN): serve() checks `pending` with interrupts on (no x86_cli
// before the check), so a doorbell taken between the check and
// Scheduler.block() wakes a thread that is not yet .blocked and is lost:
// the Watchdog's assertion fails (P3).
// Other switches, for checking by hand (not used by the runner):
//   -DBROKEN_IPI    raise the IPI when the count was NOT 0 (fails P3)
//   -DBROKEN_TAGS   awaitReply takes any reply, whatever its tag (fails P4)
//   -DSHARED_PROCESS both CPUs run threads of one process and the call ends
//                   by its deadline, not a kill: a cancel then removes the
//                   other CPU's pending read with the same tag (fails P4's
//                   cancel assertion: FunctionShipping.serve matches a cancel
//                   by tag and process, not by the CPU whose tags they are)
//   -DWOKEN_WITH_WORK assert that a woken server always finds pending > 0
//                   (ShippingQueue.swift's comment; false for serve(), whose
//                   re-check before blocking may take the request whose
//                   doorbell is still on its way: a harmless spurious wake)
// The defensive paths .empty while pending > 0, drain's .nothingPending and
// markConsumed on a counter at 0 are unreachable (pan lists them unreached).
//
// cc-flags: -O2 -DSAFETY -DCOLLAPSE -DMEMLIM=1800
// pan-flags: -m100000

#ifndef NPROD
#define NPROD   2   /* LWK CPUs shipping calls */
#endif
#ifndef CAP
#define CAP     2   /* slots (ShippingQueue.capacity, a power of two >= 2) */
#endif
#ifndef NCALLS
#define NCALLS  2   /* calls per LWK CPU */
#endif
#define KILLABLE 0  /* the CPU whose process may be killed */
#define REPLIES 3   /* reply ring slots per LWK CPU */
#define NREADS  (NPROD + 1)

mtype = {
  consoleWrite, consoleRead, cancelNumber,       /* ShippedRequest.number */
  message, empty_, inProgress,   /* ShippingDequeueResult (.empty: a Promela keyword) */
  drainMore, sleep,                              /* ShippingConsumerNext */
  asleep, nothingPending, stalled,               /* ShippingDrainStop */
  ready, running, blocked                        /* Thread.State */
};

/* ---- ShippingQueue's shared words (header and slots) ---- */
byte enqueuePosition = 0;
byte dequeuePosition = 0;
byte pendingWord = 0;            /* the pending counter: the IPI rule */
byte sequence[CAP];              /* each slot's Vyukov sequence */
/* each slot's message: a ShippedRequest's context and number */
mtype slotNumber[CAP];
byte slotCPU[CAP];               /* context.replyQueue */
byte slotProcess[CAP];           /* context.process */
byte slotTag[CAP];               /* context.tag (or arguments[0] of a cancel) */
byte slotSerial[CAP];            /* ghost: n-th request from that CPU */

/* ---- the server CPU ---- */
bool doorbell = false;           /* the doorbell vector latched in the APIC (IRR) */
bool interruptsOn = false;       /* the server thread's IF */
mtype serverThread = running;    /* LWKControl.serverThread's Thread.State */

/* ---- FunctionShipping's service side ---- */
byte pendingReads = 0;           /* count; entries oldest first */
byte readCPU[NREADS];
byte readProcess[NREADS];
byte readTag[NREADS];
byte readSerial[NREADS];         /* ghost */

/* the reply ring of each LWK CPU: tag, ghost serial of the request answered */
chan replies[NPROD] = [REPLIES] of { byte, byte };

/* ---- ghosts ---- */
byte posted[NPROD];              /* requests enqueued by each CPU */
byte handled[NPROD];             /* next serial the server expects from each CPU */
byte cancelledTags[NPROD];       /* bit t: tag t of that CPU was cancelled */
byte inFlight = 0;               /* producers between claim and their IPI decision */
byte finished = 0;               /* LWK CPUs done with all their calls */
bool killed = false;             /* CPU KILLABLE's process was killed once */

/* ShippingQueue.enqueue and, in the same breath, FunctionShipping.post:
   claim a slot (retrying on .full), write, publish, count, and raise the
   doorbell when `raiseIPI`. */
inline enqueue(num, process, t) {
  position = enqueuePosition;                    /* load relaxed */
  claimed = false;
  do
  :: claimed -> break
  :: else ->
     seq = sequence[position % CAP];             /* load acquiring */
     if
     :: seq == position ->                       /* free: compare-and-swap */
        atomic {
          if
          :: enqueuePosition == position ->
             enqueuePosition++; claimed = true; inFlight++
          :: else -> position = enqueuePosition
          fi
        }
     :: seq < position ->
        /* .full: the kernel's post/call fails (a cancel is dropped);
           here the caller tries again, as the Core test does */
        position = enqueuePosition
     :: seq > position ->                        /* taken by another CPU */
        position = enqueuePosition
     fi
  od;
  atomic {                                       /* write the message */
    slotNumber[position % CAP] = num;
    slotCPU[position % CAP] = cpu;
    slotProcess[position % CAP] = process;
    slotTag[position % CAP] = t;
    slotSerial[position % CAP] = posted[cpu];
    posted[cpu]++
  }
  sequence[position % CAP] = position + 1;       /* publish, releasing */
  atomic {                                       /* wrappingAdd: before */
#ifdef BROKEN_IPI
    raiseIPI = (pendingWord != 0);
#else
    raiseIPI = (pendingWord == 0);
#endif
    pendingWord++;
    if
    :: !raiseIPI -> inFlight--                   /* piggy-backed */
    :: else
    fi
  }
  if
  :: raiseIPI ->
     atomic { doorbell = true; inFlight-- }      /* LocalAPIC.send(doorbell) */
  :: else
  fi;
  atomic { position = 0; seq = 0; claimed = false; raiseIPI = false }
}

/* An LWK CPU: FunctionShipping.ship, one call after the other. */
proctype LWKCPU(byte cpu) {
  byte nextTag = 1;
  byte tag, mySerial, process, rtag, rserial, calls = 0;
  byte position, seq;
  bool claimed, raiseIPI, killRequested, done;
  mtype number;

#ifdef SHARED_PROCESS
  process = 1;
#else
  process = cpu + 1;
#endif
  do
  :: calls == NCALLS -> break
  :: else ->
     tag = nextTag; nextTag++;
     if
     :: number = consoleWrite
     :: number = consoleRead
     fi;
     mySerial = posted[cpu];
     enqueue(number, process, tag);
     /* awaitReply */
     killRequested = false; done = false;
     do
     :: done -> break
     :: else ->
        if
        :: replies[cpu]?rtag, rserial ->
#ifdef BROKEN_TAGS
           if :: true ->
#else
           if :: rtag == tag ->
#endif
                 assert(rserial == mySerial);                    /* P4 */
                 assert((cancelledTags[cpu] & (1 << rtag)) == 0); /* P4 */
                 done = true
              :: else ->                         /* a late reply: dropped */
                 assert(rtag < tag)
           fi;
           atomic { rtag = 0; rserial = 0 }
        :: cpu == KILLABLE && !killed ->         /* killRequested (or the deadline) */
           killed = true; killRequested = true
        fi;
        if
        :: killRequested ->                      /* cancel(tag:) */
           cancelledTags[cpu] = cancelledTags[cpu] | (1 << tag);
           enqueue(cancelNumber, process, tag);
#ifndef SHARED_PROCESS
           process = 9;                          /* the next call is another process's */
#endif
           done = true
        :: else
        fi
     od;
     atomic { calls++; done = false; killRequested = false; number = 0 }
  od;
  finished++
}

/* FunctionShipping.serve for one request taken from the queue (the server
   runs it to completion; the serial interrupt cannot come in between). */
inline serveRequest() {
  atomic {
    /* P1, P2: each request exactly once, in each CPU's order */
    assert(rserial == handled[rcpu]);
    handled[rcpu]++;
    if
    :: rnumber == consoleWrite ->                /* answer at once */
       assert(nfull(replies[rcpu]));
       replies[rcpu]!rtag, rserial
    :: rnumber == consoleRead ->                 /* pendingReads.append */
       readCPU[pendingReads] = rcpu;
       readProcess[pendingReads] = rprocess;
       readTag[pendingReads] = rtag;
       readSerial[pendingReads] = rserial;
       pendingReads++
    :: rnumber == cancelNumber ->                /* pendingReads.removeAll */
       i = 0; j = 0;
       do
       :: i == pendingReads -> break
       :: else ->
          if
          :: readTag[i] == rtag && readProcess[i] == rprocess ->
             assert(readCPU[i] == rcpu)          /* P4: only the cancelled call's read */
          :: else ->
             readCPU[j] = readCPU[i]; readProcess[j] = readProcess[i];
             readTag[j] = readTag[i]; readSerial[j] = readSerial[i];
             j++
          fi;
          i++
       od;
       i = j;
       do                                        /* clear the freed entries */
       :: i == pendingReads -> break
       :: else ->
          readCPU[i] = 0; readProcess[i] = 0; readTag[i] = 0; readSerial[i] = 0; i++
       od;
       pendingReads = j;
       i = 0; j = 0
    fi;
    rnumber = 0; rcpu = 0; rprocess = 0; rtag = 0; rserial = 0
  }
}

/* The server thread: LWKControl.serve() with ShippingQueue.drain. */
active proctype Server() {
  byte position, i, j;
  byte rcpu, rprocess, rtag, rserial;
  mtype rnumber, result, next, stop;

serve:
  /* (stop: why the last drain returned; a ghost, forgotten here) */
#ifdef BROKEN
  atomic { interruptsOn = true; stop = 0 }       /* the check is not under x86_cli */
#else
  atomic { interruptsOn = false; stop = 0 }      /* x86_cli */
#endif
  if
  :: pendingWord == 0 ->                         /* Scheduler.block() */
     atomic { serverThread = blocked; interruptsOn = false }
end_blocked:
     atomic {
       serverThread == ready -> serverThread = running;
#ifdef WOKEN_WITH_WORK
       assert(pendingWord > 0)
#endif
     };
     goto serve
  :: else
  fi;
  interruptsOn = true;                           /* x86_sti */
  /* drain: `pending > 0`, else .nothingPending */
  if
  :: pendingWord == 0 -> stop = nothingPending; goto serve
  :: else
  fi;
drain:
  /* dequeue */
  position = dequeuePosition;
  if
  :: sequence[position % CAP] == position + 1 ->  /* load acquiring */
     d_step {                                    /* copy out, release the slot */
       rnumber = slotNumber[position % CAP];
       rcpu = slotCPU[position % CAP];
       rprocess = slotProcess[position % CAP];
       rtag = slotTag[position % CAP];
       rserial = slotSerial[position % CAP];
       sequence[position % CAP] = position + CAP;
       dequeuePosition = position + 1;
       result = message
     }
  :: else ->
     if
     :: enqueuePosition != position -> result = inProgress
     :: else -> result = empty_
     fi
  fi;
  if
  :: atomic { result == message -> result = 0 };
     serveRequest();
     /* markConsumed */
     if
     :: pendingWord == 0 -> next = sleep         /* never in an honest run */
     :: else ->
        atomic {
          pendingWord--;
          if
          :: pendingWord == 0 -> next = sleep
          :: else -> next = drainMore
          fi
        }
     fi;
     if
     :: atomic { next == sleep -> next = 0; stop = asleep }; goto serve
     :: atomic { else -> next = 0 }; goto drain  /* .drainMore */
     fi
  :: else ->                                     /* .empty, .inProgress: poll */
     result = 0;
     if
     :: goto drain                               /* pause, poll again */
     :: stop = stalled; goto serve               /* spinLimit polls ran out */
     fi
  fi
}

/* The doorbell interrupt on the server CPU: taken when the thread has
   interrupts on, or when it is blocked (the CPU idles with them on);
   LWKControl.doorbell -> Scheduler.wake, which only wakes a .blocked thread. */
active proctype DoorbellInterrupt() {
end_idle:
  do
  :: atomic {
       doorbell && (interruptsOn || serverThread == blocked) ->
       doorbell = false;
       if
       :: serverThread == blocked -> serverThread = ready
       :: else                                   /* wake finds it running: no-op */
       fi
     }
  od
}

/* Console input on the service: inputArrived serves the oldest pending read. */
active proctype SerialInput() {
  byte k;
end_idle:
  do
  :: atomic {
       pendingReads > 0 ->
       assert(nfull(replies[readCPU[0]]));
       replies[readCPU[0]]!readTag[0], readSerial[0];
       k = 0;
       do
       :: k + 1 >= pendingReads -> break
       :: else ->
          readCPU[k] = readCPU[k + 1]; readProcess[k] = readProcess[k + 1];
          readTag[k] = readTag[k + 1]; readSerial[k] = readSerial[k + 1];
          k++
       od;
       pendingReads--;
       readCPU[pendingReads] = 0; readProcess[pendingReads] = 0;
       readTag[pendingReads] = 0; readSerial[pendingReads] = 0;
       k = 0
     }
  od
}

/* P3 in every state: never .blocked with a request in the queue or counted,
   no doorbell latched, and nobody on the way to raise one. */
#define lostWakeUp (serverThread == blocked && !doorbell && inFlight == 0 && \
                    (pendingWord > 0 || enqueuePosition != dequeuePosition))

active proctype Watchdog() {
end_watch:
  atomic { lostWakeUp -> assert(!lostWakeUp) }
}

/* P1 at the end: all calls done and the server asleep with nothing owed. */
active proctype Quiescence() {
  byte p;
end_wait:
  atomic {
    finished == NPROD && serverThread == blocked && !doorbell ->
    assert(pendingWord == 0 && enqueuePosition == dequeuePosition &&
           pendingReads == 0);
    p = 0;
    do
    :: p == NPROD -> break
    :: else -> assert(handled[p] == posted[p]); p++
    od
  }
}

init {
  byte s;
  atomic {
    s = 0;
    do
    :: s == CAP -> break
    :: else -> sequence[s] = s; s++
    od;
    s = 0;
    do
    :: s < NPROD -> run LWKCPU(s); s++
    :: else -> break
    od
  }
}
