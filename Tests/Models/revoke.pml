// The two-phase cross-kernel revoke of endpoint capabilities, with sends in
// flight, a second concurrent revoke and a delegation to a third party
// racing the revoke (Barrelfish TN-013's case). It follows, one to one and
// with the same names:
//   Kernel/Core/DTU/EndpointCapabilityDirectory.swift  records, delegation
//   Kernel/Core/DTU/EndpointRevocation.swift           revoke, I1-I3
//   Kernel/Core/DTU/EndpointCapabilityMessage.swift    the six messages
//   Kernel/Core/DTU/EndpointCapabilityOutbox.swift     the four effects
//   Kernel/DTU/EndpointDelegation.swift                the kernel's wiring
// and must change with them.
//
// cc-flags: -O2 -w -DSAFETY -DVECTORSZ=1024 -DMEMLIM=1800
// pan-flags: -m100000 -q
//
// Run: spin -a [-DBROKEN] revoke.pml && gcc <cc-flags> -o pan pan.c &&
// ./pan <pan-flags>   (errors: 0 without BROKEN, >= 1 with it).
//
// Configuration (two kernels, as EndpointDelegation wires them: other =
// 1 - kernel; a copy for a third kernel cannot be installed there):
//   kernel A (0): R, the original capability of a receive endpoint on A.
//   kernel B (1): CB, a copy of R delegated to B, installed and activated:
//                 B's process maps the channel A bound for it (`bindings`)
//                 and sends through it.
//   kernel A (0): CA, a copy of CB a third party P2 on A asks B for while A
//                 revokes R (a copy coming back: `yours`, A binds its own
//                 channel on install). P2 may give up while it is pending
//                 (cancelDelegation; a late grant is answered with
//                 delegateCancel).
//   Two revokers of R on A at the same time; B's process may also destroy
//   its endpoint at any moment (endpointGone: B revokes CB itself, so A's
//   revokeRequest may join it or find it gone).
//   Each sender writes at most SENDS messages (so every run is finite).
//   One FIFO ring per ordered pair of kernels (`ring[k]` goes to kernel k).
//   Deactivation (the `deactivate` effect) is done by the kernel in a step
//   of its own, after the revoke that asked for it: more interleavings
//   than the kernel's synchronous settle().
// Left out (no effect on the properties): unread counts, local children
// (copy) and the export's intermediate copy, the import recipient check,
// install failures.
//
// Properties, over every interleaving:
//   P1 no message from a revoked copy is accepted by the receive endpoint
//      once revocationCompleted(R) happened (assert in Receiver);
//   P2 once revocationCompleted(R) happened no copy is live or revoking on
//      any kernel, the third party's included, and no channel or mapping of
//      one is left (Monitor's AFTER, checked in every state);
//   I1 closure and I2 registration of EndpointRevocation (Monitor's I1,
//      I2), and ENDPOINTS: an endpoint (B's window, P2's channel, the
//      channel A bound for B) exists only while its record does, i.e.
//      `deactivated` is reported only after the endpoint is gone;
//   P3 R's revocation is started once, so a second revoke joins
//      (startRevocation asserts revocationsStarted <= 1); no record is sent
//      two revoke requests or deactivated twice (asserts);
//   P4 no deadlock: valid end states only, rings empty at the end (pan -q);
//   P5 at the end (Quiescence, on timeout): both revokers completed (each
//      waits for completed[R]; one started, the other joined or came after
//      the end); every revoke request was delivered and answered (owed);
//      nothing pending, revoking or registered is left; B's own revoke
//      completed too. Every run is finite (bounded sends, finitely many
//      messages), so these end checks are the liveness properties.
//
// BROKEN: a kernel reports `deactivated` (and so acknowledges) before it
// removes the endpoint (EndpointRevocationTests' acknowledgeBeforeDeactivating);
// the removal comes in a later step. Fails the Monitor's ENDPOINTS (B's
// window outlives CB), and, without the Monitor, P1: the third party's
// channel still takes a message after revocationCompleted(R).
// BROKEN_GRANT (extra, not used by the runner): B grants a delegate request
// for a revoking parent (the tests' grantDuringRevoke: transfer not ordered
// against the revoke). Fails I2, and P2 (the third party keeps a live copy).

#define SENDS 2

#define KA 0
#define KB 1
#define NOID 0
#define R  1
#define CB 2
#define CA 3

// Messages (EndpointCapabilityMessage).
mtype = { delegateRequest, delegateGranted, delegateRefused, delegateCancel,
          revokeRequest, revokeAck };
// Record states (EndpointCapabilityDirectory.State); a released record is free.
mtype = { free, pending, live, revoking, remoteChild, remoteChildRevoking };
// Origin (`local` is a Promela keyword, hence the prefix).
mtype = { originNone, originLocal, originRemote, originAncestor };
// What a local revoke did (EndpointRevocation), or its failure.
mtype = { started, joined, noSuchCapability };

chan ring[2] = [4] of { mtype, byte, byte };

// The directories: record `id` lives on kernelOf[id]; proxy[id] is the
// remoteChild record of `id` under remoteParent[id] on the parent's kernel.
byte kernelOf[4];
byte remoteParent[4];
mtype state[4];
mtype proxy[4];
bool activeEndpoint[4]; // activeEndpoint != nil: activated on a send endpoint
bool deactivating[4];
mtype origin[4];
bool localWaiters[4];

// The kernels around them (EndpointDelegation, DTU).
bool work[4];           // a `deactivate` effect not carried out yet
bool late[4];           // BROKEN: the endpoint still to be removed
bool mappedB;           // B's RemoteSendEndpoint of CB: its window on A's ring
bool channelB;          // A's ring: the channel bound for B's importer (bindings)
bool channelA2;         // A's ring: P2's local SendEndpoint of CA
byte inFlightB;         // written into the channel, not taken yet
byte inFlightA2;
byte sentB;
byte sentA2;

// Events and counters.
bool completed[4];      // revocationCompleted(id)
byte revocationsStarted[4];
byte revokeRequestsSent[4];
byte requestsDelivered[4]; // revokeRequests delivered to the child's kernel
bool owed[4];           // a delivered revokeRequest the record's completion answers
byte acksDelivered[4];  // revokeAcks delivered to the parent's kernel
byte deactivations[4];
mtype revokerResult[2];
bool revokerDone[2];
bool bRevokedItself;
mtype bResult;          // B's own revoke of CB (endpointGone)

// The one possible remote child of x (CA has none: guarded by x != CA).
#define childOf(x)      ((x) == R -> CB : CA)
#define alive(x)        (state[x] == live || state[x] == revoking)
#define canComplete(x)  (state[x] == revoking && !deactivating[x] \
                         && (x == CA || proxy[childOf(x)] == free))

// ---- EndpointRevocation -------------------------------------------------

inline revocationCompleted(x) {
  completed[x] = true
}

inline deactivate(x) {
  deactivations[x]++;
  assert(deactivations[x] <= 1);
  work[x] = true
}

// Removes a revoking record that is deactivated and childless.
inline complete(x) {
  state[x] = free;
  origin[x] = originNone;
  activeEndpoint[x] = false;
  if
  :: remoteParent[x] != NOID ->
     ring[kernelOf[remoteParent[x]]]!revokeAck, remoteParent[x], x;
     owed[x] = false
  :: else -> skip
  fi;
  if
  :: localWaiters[x] -> revocationCompleted(x)
  :: else -> skip
  fi;
  localWaiters[x] = false
}

// No local parents in this configuration: the climb stops at x.
inline settleUpward(x) {
  if
  :: canComplete(x) -> complete(x)
  :: else -> skip
  fi
}

inline startRevocation(x, o) {
  revocationsStarted[x]++;
  assert(revocationsStarted[x] <= 1);
  state[x] = revoking;
  origin[x] = o;
  localWaiters[x] = (o == originLocal);
  if
  :: activeEndpoint[x] -> deactivating[x] = true; deactivate(x)
  :: else -> skip
  fi;
  if
  :: x != CA && proxy[childOf(x)] == remoteChild ->
     proxy[childOf(x)] = remoteChildRevoking;
     revokeRequestsSent[childOf(x)]++;
     assert(revokeRequestsSent[childOf(x)] <= 1);
     ring[kernelOf[childOf(x)]]!revokeRequest, x, childOf(x)
  :: else -> skip
  fi;
  settleUpward(x)       // settle(subtree:)
}

// A local revoke: starts, or joins the running revocation.
inline revoke(x, result) {
  if
  :: state[x] == live -> startRevocation(x, originLocal); result = started
  :: state[x] == revoking -> localWaiters[x] = true; result = joined
  :: else -> result = noSuchCapability
  fi
}

inline deactivated(x) {
  if
  :: state[x] == revoking && deactivating[x] ->
     deactivating[x] = false;
     settleUpward(x)
  :: else -> skip       // notDeactivating: EndpointDelegation ignores it
  fi
}

// At the child's kernel.
inline handleRevokeRequest(p, c) {
  requestsDelivered[c]++;
  if
  :: state[c] == free ->            // gone: answered at once (stale)
     ring[kernelOf[p]]!revokeAck, p, c
  :: state[c] == pending ->         // the grant is still on its way
     state[c] = free;               // release; delegationRefused effect
     ring[kernelOf[p]]!revokeAck, p, c
  :: state[c] == revoking -> owed[c] = true   // remoteJoins
  :: state[c] == live -> owed[c] = true; startRevocation(c, originRemote)
  fi
}

// At the parent's kernel.
inline handleRevokeAck(p, c) {
  acksDelivered[c]++;
  if
  :: state[p] == free || proxy[c] == free -> skip      // stale
  :: else ->
     proxy[c] = free;
     settleUpward(p)
  fi
}

// ---- delegation (EndpointCapabilityDirectory) ----------------------------

// At the parent's kernel: refuse, or register the child before the grant.
inline handleDelegateRequest(p, c) {
  if
  :: state[p] == free || state[p] == pending ->
     ring[kernelOf[c]]!delegateRefused, p, c            // noSuchCapability
  :: state[p] == revoking ->
#ifdef BROKEN_GRANT
     ring[kernelOf[c]]!delegateGranted, p, c            // not ordered
#else
     ring[kernelOf[c]]!delegateRefused, p, c            // revoking
#endif
  :: state[p] == live ->
     assert(proxy[c] == free);                          // not duplicateChild
     proxy[c] = remoteChild;
     ring[kernelOf[c]]!delegateGranted, p, c
  fi
}

// At the requester; for CA the `installed` effect makes EndpointDelegation
// install it: the ring is A's own (`yours`), so A mints P2's send endpoint.
inline handleDelegateGranted(p, c) {
  if
  :: state[c] == free -> ring[kernelOf[p]]!delegateCancel, p, c   // stale
  :: else ->
     assert(state[c] == pending);                       // not notPending
     state[c] = live;
     channelA2 = true;                                  // DTU.mintSend
     activeEndpoint[c] = true                                   // activate
  fi
}

inline handleDelegateRefused(p, c) {
  if
  :: state[c] == free -> skip                           // stale
  :: else -> assert(state[c] == pending); state[c] = free
  fi
}

inline handleDelegateCancel(p, c) {
  if
  :: state[p] == free || proxy[c] == free -> skip       // stale
  :: else -> proxy[c] = free; settleUpward(p)
  fi
}

// ---- the kernel (EndpointDelegation, DTU) --------------------------------

// The channel bound on this kernel's ring for the other's copy `c` goes.
inline unbind(k, c) {
  if
  :: k == KA && c == CB && channelB -> channelB = false; inFlightB = 0
  :: else -> skip
  fi
}

// reportGone: the record is revoked unless that destroyed it, and
// reported deactivated.
inline endpointGone(x) {
  if
  :: state[x] == live ->
     revoke(x, bResult);
     bRevokedItself = true
  :: else -> skip
  fi;
  deactivated(x)
}

// DTU.destroy: B's remote send endpoint loses its window (pages to the
// sink, TLBs shot down); P2's local one its channel (revokeChannel).
inline removeEndpoint(x) {
  if
  :: x == CB -> mappedB = false
  :: x == CA -> channelA2 = false; inFlightA2 = 0
  fi
}

#define hasEndpoint(x) ((x == CB && mappedB) || (x == CA && channelA2))

// perform(.deactivate): the endpoint is destroyed, which reports it gone.
inline performDeactivate(x) {
  work[x] = false;
  if
  :: hasEndpoint(x) ->
#ifdef BROKEN
     late[x] = true;           // acknowledged first, removed later
     deactivated(x)
#else
     removeEndpoint(x);
     endpointGone(x)
#endif
  :: else -> skip              // destroyed already (its process did)
  fi
}

inline handle(k, m, p, c) {
  if
  :: m == delegateRequest -> handleDelegateRequest(p, c)
  :: m == delegateGranted -> handleDelegateGranted(p, c)
  :: m == delegateRefused -> handleDelegateRefused(p, c)
  :: m == delegateCancel  -> unbind(k, c); handleDelegateCancel(p, c)
  :: m == revokeRequest   -> handleRevokeRequest(p, c)
  :: m == revokeAck       -> unbind(k, c); handleRevokeAck(p, c)
  fi
}

proctype Kernel(byte k) {
  mtype m;
  byte p, c;
end:
  do
  :: atomic { ring[k]?m, p, c -> handle(k, m, p, c); m = 0; p = 0; c = 0 }
  :: atomic { k == KA && work[CA] -> performDeactivate(CA) }
  :: atomic { k == KB && work[CB] -> performDeactivate(CB) }
#ifdef BROKEN
  :: atomic { k == KA && late[CA] -> late[CA] = false; removeEndpoint(CA) }
  :: atomic { k == KB && late[CB] -> late[CB] = false; removeEndpoint(CB) }
#endif
  od
}

// dtuRevokeExport of R, twice at the same time.
proctype Revoker(byte i) {
  atomic {
    revoke(R, revokerResult[i]);
    assert(revokerResult[i] != joined || state[R] == revoking)
  }
  if
  :: revokerResult[i] != noSuchCapability -> completed[R]  // waits for it
  :: else -> assert(completed[R])                          // came too late
  fi;
  revokerDone[i] = true
}

// B's process: sends through CB while mapped; may destroy its endpoint.
proctype ProcessB() {
  do
  :: atomic { mappedB && sentB < SENDS -> inFlightB++; sentB++ }
  :: atomic { mappedB -> removeEndpoint(CB); endpointGone(CB) }; break
  :: break
  od
}

// P2 on A: imports B's copy (requestDelegation), may give up while it is
// pending, then sends through it while it has it.
proctype ThirdParty() {
  atomic {
    state[CA] = pending;
    ring[kernelOf[CB]]!delegateRequest, CB, CA
  }
  if
  :: atomic { state[CA] == pending -> state[CA] = free }  // cancelDelegation
  :: state[CA] != pending ->
     do
     :: atomic { channelA2 && sentA2 < SENDS -> inFlightA2++; sentA2++ }
     :: break
     od
  fi
}

// The receive endpoint's owner: takes a message only from an active channel.
proctype Receiver() {
end:
  do
  :: atomic { inFlightB > 0 && channelB -> inFlightB--; assert(!completed[R]) }
  :: atomic { inFlightA2 > 0 && channelA2 -> inFlightA2--; assert(!completed[R]) }
  od
}

// Every state: I1, I2, endpoints only of existing records, P2.
#define I1 ((state[R] != revoking || proxy[CB] != remoteChild) \
         && (state[CB] != revoking || proxy[CA] != remoteChild) \
         && (state[R] != live || proxy[CB] != remoteChildRevoking) \
         && (state[CB] != live || proxy[CA] != remoteChildRevoking))
#define I2 ((!alive(CB) || proxy[CB] != free) && (!alive(CA) || proxy[CA] != free))
#define ENDPOINTS ((!mappedB || alive(CB)) && (!channelA2 || alive(CA)) \
                && (!channelB || proxy[CB] != free))
#define AFTER (!completed[R] || (state[R] == free && !alive(CB) && !alive(CA) \
                && !mappedB && !channelB && !channelA2))

proctype Monitor() {
end:
  atomic {
    !(I1 && I2 && ENDPOINTS && AFTER) ->
    assert(I1); assert(I2); assert(ENDPOINTS); assert(AFTER)
  }
}

// The end of every run (nothing else can move).
proctype Quiescence() {
end:
  atomic {
    timeout ->
    assert(revokerDone[0] && revokerDone[1]);
    assert(completed[R] && revocationsStarted[R] == 1);
    assert(revokerResult[0] != joined || revokerResult[1] != joined);
    assert(requestsDelivered[CB] == revokeRequestsSent[CB] && !owed[CB]
        && requestsDelivered[CA] == revokeRequestsSent[CA] && !owed[CA]
        && revokeRequestsSent[CB] <= acksDelivered[CB]
        && revokeRequestsSent[CA] <= acksDelivered[CA]);
    assert(len(ring[KA]) == 0 && len(ring[KB]) == 0);
    assert(state[R] == free && state[CB] == free && state[CA] == free);
    assert(proxy[CB] == free && proxy[CA] == free);
    assert(!work[CB] && !work[CA] && !late[CB] && !late[CA]);
    assert(!bRevokedItself || completed[CB])
  }
}

init {
  atomic {
    kernelOf[R] = KA; kernelOf[CB] = KB; kernelOf[CA] = KA;
    remoteParent[CB] = R; remoteParent[CA] = CB;
    state[R] = live; state[CB] = live; state[CA] = free;
    proxy[R] = free; proxy[CB] = remoteChild; proxy[CA] = free;
    activeEndpoint[CB] = true;
    mappedB = true; channelB = true;
    origin[R] = originNone; origin[CB] = originNone; origin[CA] = originNone;
    run Kernel(KA); run Kernel(KB);
    run Revoker(0); run Revoker(1);
    run ProcessB(); run ThirdParty(); run Receiver();
    run Monitor(); run Quiescence()
  }
}
