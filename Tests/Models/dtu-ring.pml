// cc-flags: -O2 -DSAFETY -DCOLLAPSE -DMEMLIM=1500
// pan-flags: -m100000
//
// dtu-ring.pml: the emulated DTU receive endpoint's ring with credits and
// its sleep/wake-up rule, checked exhaustively with spin (6.5.2).
//
//   spin -a dtu-ring.pml && gcc -O2 -DSAFETY -DCOLLAPSE -DMEMLIM=1500 -o pan pan.c && ./pan -m100000
//     must say "errors: 0";
//   spin -a -DBROKEN dtu-ring.pml && (same)     must report an error.
//
// It follows, step by step and with the same names:
//   Kernel/Core/Endpoints/ChannelSender.swift     send: credits from `consumed`,
//       payload, word 0 `publish` (release), seq_cst fence, load of
//       `sleeping` -> .sent(wakeReceiver:), then the program's dtuWake
//   Kernel/Core/Endpoints/ChannelReceiver.swift   receive (fetch + ack fused)
//       and fetch / ack apart; round robin `cursor`; `prepareToSleep`
//       (fetched snapshot, sleeping = 1, fence, re-check of every head,
//       clear and return false when something is pending); `clearSleeping`
//   Kernel/Core/Endpoints/ReceiveEndpointLayout.swift, ReceiveEndpointControl.swift,
//   ChannelRecord.swift   one sub-ring (run of slots) per sender channel;
//       status page: `consumed` per channel, fetched snapshot per channel,
//       the `sleeping` word; `wake` (exchange) and `mayBlock` (flag still
//       set && !hasPending over the fetched snapshots)
//   Kernel/DTU/DTU.swift `wake` (dtuWake under KernelLock: only the first
//       waker, the one whose exchange found the flag set, makes the waiter
//       runnable) and Kernel/SystemCall/DTUCalls.swift `wait` (dtuWait:
//       under KernelLock, mayBlock && waiter == nil -> waiter = me, blocked;
//       else clearSleeping and return; after waking, clearSleeping under
//       the lock).
// Credits: the code returns a credit when the receiver's `consumed` count
// advances, i.e. on the ACK (`ack`, or `receive` when its closure returns),
// not with a reply (unlike M3). Replies (ChannelReplier) travel on another
// ring (the sender's reply endpoint), with that ring's own credits and the
// same rule; they imply nothing about this ring and are not modelled here.
// Channel states (revoke / retire / rebind), malformed headers and `drain`
// are not modelled: every channel stays active, every header is valid.
// Memory model: spin's interleaving is sequentially consistent, which is
// what the two seq_cst fences (sender after publish, receiver after
// sleeping = 1) and KernelLock buy on x86; every shared load or store is
// its own step, so the scans (fetch, prepareToSleep, the kernel's
// hasPending) interleave with the senders' publishes.
//
// Configuration: NS = 3 senders (channels), SLOTS = 2 slots per channel
// (credits 2), MSGS = 3 numbered messages per sender (so every channel's
// ring wraps and runs out of credits); one receiver. About 8.3 million
// states, 17 s, 0.45 GB. -DMSGS=2 is a quick run (no wrap, though).
//
// Properties (all checked in one safety run):
//   1. no overwrite: a head slot never holds a message past the one the
//      receiver expects (assert in fetch), and when the receiver frees a
//      slot (its `consumed` store) the slot still holds the message it
//      took (assert in ack);
//   2. per-sender order, no duplicate: the receiver takes position
//      fetched + 1 only (header sequence), acks in order, and the message
//      number is the sequence the sender wrote, so each channel delivers
//      exactly 1, 2, 3 in that order;
//   3. no loss: the receiver terminates only after acking NS * MSGS
//      messages, and then asserts acked == MSGS on every channel;
//   4. credits conserved: monitor process `credits_conserved` asserts in
//      every reachable state, per channel, credits (SLOTS - (sent -
//      consumed)) + in flight (slots holding a message past `consumed`)
//      == SLOTS, with consumed <= sent;
//   5. no lost wake-up and no deadlock: spin's invalid end states. The
//      receiver blocked in dtuWait forever (a message pending, no wake to
//      come), a sender stuck without credits, or the receiver stopping
//      before all messages arrived is an end state that is not valid.
//
// BROKEN (-DBROKEN): the sender loads `sleeping` BEFORE publishing its
// header word 0 -- what x86 does to the code without the seq_cst fence
// (the load passes the still-buffered store; store-load reordering is the
// one reordering TSO allows). Then both sides can miss each other: the
// sender reads sleeping == 0 and makes no wake call, the receiver's
// re-check (and the kernel's) runs before the publish, and the receiver
// blocks with the message pending: "invalid end state".
// Other switches, for experiments: NO_USER_RECHECK (prepareToSleep does not
// re-check the heads) and NO_KERNEL_RECHECK (mayBlock does not look at the
// heads) each pass alone (the other re-check covers it); both together fail.
// HOLD: the receiver may also `fetch` a message and keep it, acking it (in
// order) later; passes too, but takes about 70 s and 1 GB (23 million
// states), so it is not in the default run, which uses `receive` (fetch
// and ack fused, the credit back when the closure returns).

#define NS    3   /* written out for 3 below (monitor, snapshot, init) */
#define SLOTS 2   /* written out for 2 below (INFLIGHT) */
#ifndef MSGS
#define MSGS  3
#endif

#define SLOT(c, p)  ((c) * SLOTS + ((p) - 1) % SLOTS)   /* slots.slot(position) */
#define HEAD(c, f)  ((c) * SLOTS + (f) % SLOTS)          /* slot of position f + 1 */

// Slot area: header word 0's sequence (0: never written).
byte word0[NS * SLOTS];
// Status page (written by the receiver only).
byte consumed[NS];
byte fetchedSnapshot[NS];
bit  sleeping;
// Kernel (under KernelLock): endpoint.waiter != nil, and the lock itself.
bit  waiter;
bit  kernelLock;
// Each sender's private `sent`; global only so the monitor can read it.
byte sent[NS];

// ---------------------------------------------------------------- credits

#if NS != 3 || SLOTS != 2
#error "the monitor, the snapshot and init are written out for 3 channels of 2 slots"
#endif
#define INFLIGHT(c) ((word0[(c) * SLOTS] > consumed[c] -> 1 : 0) \
                   + (word0[(c) * SLOTS + 1] > consumed[c] -> 1 : 0))
#define CREDITS(c)  (SLOTS - (sent[c] - consumed[c]))
#define CONSERVED(c) (consumed[c] <= sent[c] && CREDITS(c) + INFLIGHT(c) == SLOTS)

active proctype credits_conserved() {
end:
  atomic {
    !(CONSERVED(0) && CONSERVED(1) && CONSERVED(2)) ->
      assert(CONSERVED(0) && CONSERVED(1) && CONSERVED(2))
  }
}

// ----------------------------------------------------------------- kernel

// DTU.wake / ReceiveEndpointControl.wake: under KernelLock, exchange the
// flag with 0; only when it was set, and a thread waits, Scheduler.wake.
inline dtuWake() {
  atomic {
    kernelLock == 0 ->
      wasSleeping = sleeping;
      sleeping = 0;
      if
      :: wasSleeping && waiter -> waiter = 0   /* Scheduler.wake(waiter) */
      :: else -> skip
      fi;
      wasSleeping = 0
  }
}

// ----------------------------------------------------------------- sender
#ifdef BROKEN
#define WAKE_RECEIVER wakeReceiver   /* loaded before the publish */
#else
#define WAKE_RECEIVER sleeping       /* loaded after publish and fence */
#endif

// Each step below touches shared memory once; the sender's private work is
// folded into the step next to it (atomic), which changes no interleaving
// another party can see.

proctype ChannelSender(byte ch) {
  byte position;
  bit wakeReceiver;
  bit wasSleeping;
  do
  :: atomic { sent[ch] == MSGS -> break }
  :: atomic {
      // send: acquire load of `consumed`; credits = slotCount - (sent -
      // consumed); .noCredits when 0 (the program tries again: modelled as
      // waiting until the receiver's `consumed` advances).
      sent[ch] < MSGS && sent[ch] - consumed[ch] < SLOTS ->
        position = sent[ch] + 1
#ifdef BROKEN
        ; wakeReceiver = sleeping        // the load passed the publish
#endif
    };
    // write(slot + header size), word 1, then publish: word 0, release.
    // The payload is the message's number, which word 0 carries as its
    // sequence: one store stands for the three.
    atomic {
      word0[SLOT(ch, position)] = position;
      sent[ch] = position;                    // private to the sender
      position = 0
    };
    // seq_cst fence, then .sent(wakeReceiver: sleeping != 0); the program
    // makes the wake call only then.
    if
    :: atomic { WAKE_RECEIVER -> wakeReceiver = 0 };
       dtuWake()
    :: atomic { else -> skip }                // doorbell skip
    fi
  od
}

// --------------------------------------------------------------- receiver
// The program: `receive` (or `fetch`, keeping the message, and `ack`
// later) until nothing is found; then ack what it still holds,
// `prepareToSleep`, and when that says so, dtuWait.

proctype ChannelReceiver() {
  byte fetched[NS];   // private: handed out by fetch / receive
  byte acked[NS];     // private: freed; `consumed` is stored from it
  byte total;         // messages acked, all channels
  byte cursor;        // fetch's round robin start
  byte ch, n;
  bit found, pending, mayBlock;

  do
  :: atomic { total == NS * MSGS -> break }
  :: atomic { total < NS * MSGS -> found = 0; ch = cursor; n = 0 };
    // -- fetch / receive: channels round robin from the cursor, one acquire
    // load of the head's word 0 each.
    do
    :: atomic {
        n < NS && !found ->
          assert(word0[HEAD(ch, fetched[ch])] <= fetched[ch] + 1);  // 1
          if
          :: word0[HEAD(ch, fetched[ch])] == fetched[ch] + 1 ->    // 2
            fetched[ch]++;
            found = 1;
            cursor = (ch + 1) % NS;
            n = 0
          :: else ->
            ch = (ch + 1) % NS;
            n++
          fi
      }
    :: atomic { else -> n = 0; break }
    od;
    if
    :: atomic { found -> found = 0 };
      // receive frees it when its closure returns; fetch may keep it for
      // the program to ack later, in order (the oldest first).
      if
      :: skip
#ifdef HOLD
      :: atomic { fetched[ch] - acked[ch] < SLOTS -> ch = 0; goto next }  // held
#endif
      fi;
ack_oldest:
      // -- ack: the program was using the message up to here; its slot
      // must still hold it (checked, not acted on, at the store).
      atomic {
        assert(word0[HEAD(ch, acked[ch])] == acked[ch] + 1);  // 1, 2
        acked[ch]++;
        consumed[ch] = acked[ch];     // release store: the credit returns
        total++;
        ch = 0
      }
    :: atomic { else -> ch = 0 };
      // Nothing found. Messages still held are acked first (a program that
      // sleeps holding its senders' slots stops them: its own choice).
      do
      :: atomic { ch < NS && fetched[ch] != acked[ch] -> goto ack_oldest }
      :: atomic { ch < NS && fetched[ch] == acked[ch] -> ch++ }
      :: atomic { ch == NS -> ch = 0; break }
      od;
      if
      :: atomic { total == NS * MSGS -> goto next }
      :: atomic { else ->
        // -- prepareToSleep: the fetched snapshot (read only by the
        // kernel's re-check, in this thread's own dtuWait), sleeping = 1,
        // seq_cst fence.
        fetchedSnapshot[0] = fetched[0];
        fetchedSnapshot[1] = fetched[1];
        fetchedSnapshot[2] = fetched[2];
        sleeping = 1;
        pending = 0
      } fi;
#ifndef NO_USER_RECHECK
      // ... and re-checks every head.
      do
      :: atomic { ch < NS && !pending ->
          pending = (word0[HEAD(ch, fetched[ch])] == fetched[ch] + 1);
          ch++ }
      :: atomic { else -> ch = 0; break }
      od;
#endif
      if
      :: atomic { pending -> pending = 0; sleeping = 0 }  // store 0; false
      :: atomic { else ->
        // -- dtuWait: under KernelLock: fence, receiverSleeping, then
        // hasPending over the fetched snapshots (the senders publish
        // without the lock, so the scan interleaves with them), then
        // waiter = me and blocked, in the same locked section.
          kernelLock == 0 -> kernelLock = 1; mayBlock = sleeping };
#ifndef NO_KERNEL_RECHECK
        do
        :: atomic { ch < NS && mayBlock ->
            mayBlock = (word0[HEAD(ch, fetchedSnapshot[ch])] != fetchedSnapshot[ch] + 1);
            ch++ }
        :: atomic { else -> ch = 0; break }
        od;
#endif
        if
        :: atomic { mayBlock && !waiter -> waiter = 1; kernelLock = 0; mayBlock = 0 };
          // Scheduler.blockMarked: until a dtuWake makes it ready. No end
          // label: blocked here forever is a lost wake-up.
          waiter == 0;
          atomic { kernelLock == 0 -> sleeping = 0 }  // clearSleeping, locked
        :: atomic { else -> sleeping = 0; kernelLock = 0; mayBlock = 0 }  // clearSleeping
        fi
      fi
    fi;
next:
    skip
  od;
  // 3: nothing lost, every channel delivered all, in order.
  assert(acked[0] == MSGS && acked[1] == MSGS && acked[2] == MSGS);
  assert(consumed[0] == MSGS && consumed[1] == MSGS && consumed[2] == MSGS)
}

init {
  atomic {
    run ChannelSender(0);
    run ChannelSender(1);
    run ChannelSender(2);
    run ChannelReceiver()
  }
}
