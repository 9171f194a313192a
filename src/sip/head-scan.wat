;; The header-section scan of the SIP parser (src/sip/parse.ts), 16 bytes at a time.
;;
;; Memory: LF positions as i32 at [0, 4096) (at most 1024); the message bytes are copied
;; by the caller from address 4096 on, with 16 bytes of room after them.
;;
;; scanHead(from, to): scans the bytes at [from, to) up to the end of the header section,
;; the first LF whose line is empty ("\n\r\n"). Returns -1 when there is no such LF before
;; `to` or more than 1024 LFs precede it; else (n << 1) | clean, where n LF positions
;; (minus 4096, that is offsets in the message) were written in order, the last one ending
;; the empty line, and clean is 1 when the bytes from `from` to that LF hold no control
;; character but HTAB, CR and LF, no DEL, a CR just before every LF and no other CR.
(module
  (memory (export "memory") 2)
  (func (export "scanHead") (param $from i32) (param $to i32) (result i32)
    (local $v v128) (local $ctl v128)
    (local $base i32) (local $valid i32) (local $lf i32) (local $cr i32) (local $bad i32)
    (local $bit i32) (local $pos i32) (local $prev i32) (local $n i32) (local $crs i32)
    (local $dirty i32) (local $upto i32)
    (local.set $prev (i32.const -8))
    (local.set $base (local.get $from))
    (block $notfound
      (loop $chunk
        (br_if $notfound (i32.ge_u (local.get $base) (local.get $to)))
        (local.set $v (v128.load (local.get $base)))
        ;; Only the bytes below `to` count: the rest of the block is an earlier message's.
        (local.set $valid (i32.const 0xffff))
        (if (i32.lt_u (i32.sub (local.get $to) (local.get $base)) (i32.const 16))
          (then
            (local.set $valid
              (i32.sub
                (i32.shl (i32.const 1) (i32.sub (local.get $to) (local.get $base)))
                (i32.const 1)))))
        ;; Most blocks hold no byte below SP and no DEL: nothing to record or refuse.
        (local.set $ctl
          (v128.or
            (i8x16.lt_u (local.get $v) (v128.const i8x16 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32 32))
            (i8x16.eq (local.get $v) (v128.const i8x16 127 127 127 127 127 127 127 127 127 127 127 127 127 127 127 127))))
        (if (i32.eqz (v128.any_true (local.get $ctl)))
          (then
            (local.set $base (i32.add (local.get $base) (i32.const 16)))
            (br $chunk)))
        (local.set $lf
          (i32.and (local.get $valid)
            (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10 10)))))
        (local.set $cr
          (i32.and (local.get $valid)
            (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13 13)))))
        ;; Below SP but HTAB, LF and CR; or DEL.
        (local.set $bad
          (i32.and
            (i32.and (local.get $valid) (i8x16.bitmask (local.get $ctl)))
            (i32.xor
              (i32.or (i32.or (local.get $lf) (local.get $cr))
                (i8x16.bitmask (i8x16.eq (local.get $v) (v128.const i8x16 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9 9))))
              (i32.const -1))))
        (block $lfdone
          (loop $eachlf
            (br_if $lfdone (i32.eqz (local.get $lf)))
            (local.set $bit (i32.ctz (local.get $lf)))
            (local.set $pos (i32.add (local.get $base) (local.get $bit)))
            (br_if $notfound (i32.ge_u (local.get $n) (i32.const 1024)))
            (i32.store (i32.shl (local.get $n) (i32.const 2)) (i32.sub (local.get $pos) (i32.const 4096)))
            (local.set $n (i32.add (local.get $n) (i32.const 1)))
            ;; Every LF needs its CR just before it, within the scanned bytes.
            (if (i32.or
                  (i32.le_u (local.get $pos) (local.get $from))
                  (i32.ne (i32.load8_u (i32.sub (local.get $pos) (i32.const 1))) (i32.const 13)))
              (then (local.set $dirty (i32.const 1))))
            ;; The end of the header section: this LF ends an empty line.
            (if (i32.eq (i32.sub (local.get $pos) (local.get $prev)) (i32.const 2))
              (then
                (if (i32.eq (i32.load8_u (i32.sub (local.get $pos) (i32.const 1))) (i32.const 13))
                  (then
                    (local.set $upto
                      (i32.sub (i32.shl (i32.const 2) (local.get $bit)) (i32.const 1)))
                    (local.set $crs
                      (i32.add (local.get $crs)
                        (i32.popcnt (i32.and (local.get $cr) (local.get $upto)))))
                    (if (i32.and (local.get $bad) (local.get $upto))
                      (then (local.set $dirty (i32.const 1))))
                    (return
                      (i32.or
                        (i32.shl (local.get $n) (i32.const 1))
                        (i32.and
                          (i32.eqz (local.get $dirty))
                          (i32.eq (local.get $crs) (local.get $n)))))))))
            (local.set $prev (local.get $pos))
            (local.set $lf (i32.and (local.get $lf) (i32.sub (local.get $lf) (i32.const 1))))
            (br $eachlf)))
        (local.set $crs (i32.add (local.get $crs) (i32.popcnt (local.get $cr))))
        (if (local.get $bad) (then (local.set $dirty (i32.const 1))))
        (local.set $base (i32.add (local.get $base) (i32.const 16)))
        (br $chunk)))
    (i32.const -1)))
