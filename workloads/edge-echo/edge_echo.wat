;; edge-echo: a wasmcloud:messaging@0.2.0 handler in WebAssembly text (the core module;
;; `wasm-tools component embed` + `component new` make it a component of world edge-echo).
;;
;; For a message with a reply subject it publishes, to that subject, the value of the
;; environment variable SERVED_BY (the workload's localResources.environment), one space,
;; and the request's body. Canonical ABI, flattened:
;;   handle-message(subject ptr/len, body ptr/len, reply-to tag/ptr/len) -> ptr to result<_, string>
;;   publish(subject ptr/len, body ptr/len, reply-to tag/ptr/len, return ptr)
;;   get-environment(return ptr): list<tuple<string, string>> as (ptr, len), 16 bytes per entry
(module
  (import "wasi:cli/environment@0.2.0" "get-environment" (func $get_environment (param i32)))
  (import "wasmcloud:messaging/consumer@0.2.0" "publish"
    (func $publish (param i32 i32 i32 i32 i32 i32 i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  ;; 0: handle-message's result; 16: publish's result; 32: get-environment's list
  (data (i32.const 64) "SERVED_BY")
  (data (i32.const 80) "unknown")

  ;; A bump allocator: every message gets a fresh instance, so nothing is ever freed.
  (func $realloc (export "cabi_realloc")
    (param $old i32) (param $old_size i32) (param $align i32) (param $size i32) (result i32)
    (local $ptr i32) (local $end i32) (local $have i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
    (local.set $end (i32.add (local.get $ptr) (local.get $size)))
    (local.set $have (i32.shl (memory.size) (i32.const 16)))
    (if (i32.gt_u (local.get $end) (local.get $have))
      (then
        (if (i32.eq
              (memory.grow
                (i32.add (i32.shr_u (i32.sub (local.get $end) (local.get $have)) (i32.const 16)) (i32.const 1)))
              (i32.const -1))
          (then unreachable))))
    (if (i32.ne (local.get $old) (i32.const 0))
      (then
        (memory.copy (local.get $ptr) (local.get $old)
          (select (local.get $old_size) (local.get $size) (i32.lt_u (local.get $old_size) (local.get $size))))))
    (global.set $heap (local.get $end))
    (local.get $ptr))

  (func $equal (param $a i32) (param $a_len i32) (param $b i32) (param $b_len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $a_len) (local.get $b_len)) (then (return (i32.const 0))))
    (block $differ
      (loop $next
        (if (i32.ge_u (local.get $i) (local.get $a_len)) (then (return (i32.const 1))))
        (br_if $differ
          (i32.ne
            (i32.load8_u (i32.add (local.get $a) (local.get $i)))
            (i32.load8_u (i32.add (local.get $b) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (i32.const 0))

  (func (export "wasmcloud:messaging/handler@0.2.0#handle-message")
    (param $subject i32) (param $subject_len i32) (param $body i32) (param $body_len i32)
    (param $has_reply i32) (param $reply i32) (param $reply_len i32) (result i32)
    (local $list i32) (local $count i32) (local $i i32) (local $entry i32)
    (local $value i32) (local $value_len i32) (local $out i32) (local $out_len i32)
    (i32.store8 (i32.const 0) (i32.const 0))
    (if (i32.eqz (local.get $has_reply)) (then (return (i32.const 0))))
    (local.set $value (i32.const 80))
    (local.set $value_len (i32.const 7))
    (call $get_environment (i32.const 32))
    (local.set $list (i32.load (i32.const 32)))
    (local.set $count (i32.load (i32.const 36)))
    (block $found
      (loop $next
        (br_if $found (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $entry (i32.add (local.get $list) (i32.shl (local.get $i) (i32.const 4))))
        (if (call $equal
              (i32.load (local.get $entry)) (i32.load offset=4 (local.get $entry)) (i32.const 64) (i32.const 9))
          (then
            (local.set $value (i32.load offset=8 (local.get $entry)))
            (local.set $value_len (i32.load offset=12 (local.get $entry)))
            (br $found)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.set $out_len (i32.add (i32.add (local.get $value_len) (i32.const 1)) (local.get $body_len)))
    (local.set $out (call $realloc (i32.const 0) (i32.const 0) (i32.const 1) (local.get $out_len)))
    (memory.copy (local.get $out) (local.get $value) (local.get $value_len))
    (i32.store8 (i32.add (local.get $out) (local.get $value_len)) (i32.const 32))
    (memory.copy
      (i32.add (i32.add (local.get $out) (local.get $value_len)) (i32.const 1)) (local.get $body) (local.get $body_len))
    (call $publish
      (local.get $reply) (local.get $reply_len) (local.get $out) (local.get $out_len)
      (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 16))
    ;; a failed publish is the handler's error: result<_, string> has the same layout
    (if (result i32) (i32.load8_u (i32.const 16)) (then (i32.const 16)) (else (i32.const 0))))
)
