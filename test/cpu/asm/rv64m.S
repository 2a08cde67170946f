# M extension: products, division by zero and overflow, W forms.
main:
  li a0, 0x123456789
  li a1, 0x987654321
  mul a2, a0, a1
  CHECK a2, 0xd77d742cce1833a9
  li a0, -3
  li a1, 7
  mul a2, a0, a1
  CHECK a2, -21
  li a0, 0xffffffffffffffff
  li a1, 0xffffffffffffffff
  mulhu a2, a0, a1
  CHECK a2, 0xfffffffffffffffe
  mulh a2, a0, a1
  CHECK a2, 0
  mulhsu a2, a0, a1   # -1 * (2^64-1) = -(2^64-1): high = -1
  CHECK a2, -1
  li a0, 0x8000000000000000
  li a1, 2
  mulh a2, a0, a1
  CHECK a2, -1
  mulhu a2, a0, a1
  CHECK a2, 1
  li a0, 0x7fffffff
  li a1, 0x7fffffff
  mulw a2, a0, a1
  CHECK a2, 1
  li a0, 0x10000
  mulw a2, a0, a0
  CHECK a2, 0
  li a0, 0x8000
  li a1, 0x10000
  mulw a2, a0, a1
  CHECK a2, 0xffffffff80000000
  # division
  li a0, 100
  li a1, -7
  div a2, a0, a1
  CHECK a2, -14
  rem a2, a0, a1
  CHECK a2, 2
  li a0, -100
  rem a2, a0, a1
  CHECK a2, -2
  divu a2, a0, a1
  CHECK a2, 0
  remu a2, a0, a1
  CHECK a2, -100
  # by zero
  div a2, a0, zero
  CHECK a2, -1
  divu a2, a0, zero
  CHECK a2, -1
  rem a2, a0, zero
  CHECK a2, -100
  remu a2, a0, zero
  CHECK a2, -100
  divw a2, a0, zero
  CHECK a2, -1
  divuw a2, a0, zero
  CHECK a2, -1
  remw a2, a0, zero
  CHECK a2, -100
  li a3, 0x1ffffff9c     # low word -100
  remuw a2, a3, zero
  CHECK a2, -100
  # overflow
  li a0, 0x8000000000000000
  li a1, -1
  div a2, a0, a1
  CHECK a2, 0x8000000000000000
  rem a2, a0, a1
  CHECK a2, 0
  li a0, 0xffffffff80000000
  divw a2, a0, a1
  CHECK a2, 0xffffffff80000000
  remw a2, a0, a1
  CHECK a2, 0
  # large unsigned
  li a0, 0xfffffffffffffff0
  li a1, 0x10
  divu a2, a0, a1
  CHECK a2, 0x0fffffffffffffff
  li a0, 0xffffffff
  li a1, 0x10
  divuw a2, a0, a1
  CHECK a2, 0x0fffffff
  li a0, 0x80000000
  li a1, 1
  divuw a2, a0, a1
  CHECK a2, 0xffffffff80000000
  remuw a2, a0, a0
  CHECK a2, 0
  li a0, 0x123456789abcdef
  li a1, 0x12345
  div a2, a0, a1
  CHECK a2, 0x123456789abcdef / 0x12345
  rem a2, a0, a1
  CHECK a2, 0x123456789abcdef % 0x12345
  # the 53-bit fast path and its boundaries
  li a0, 0x000fffffffffffff
  li a1, 3
  divu a2, a0, a1
  CHECK a2, 0x0005555555555555
  remu a2, a0, a1
  CHECK a2, 0
  li a0, -0x000fffffffffffff
  div a2, a0, a1
  CHECK a2, -0x0005555555555555
  li a1, -7
  li a0, 0x000ffffffffffff0
  div a2, a0, a1
  CHECK a2, 0x000ffffffffffff0 / -7
  rem a2, a0, a1
  CHECK a2, 0x000ffffffffffff0 % -7
  li a0, -0x000ffffffffffff1
  rem a2, a0, a1
  CHECK a2, -0x000ffffffffffff1 % -7
  divu a2, a0, a1        # large unsigned values take the exact path
  CHECK a2, 0
  remu a2, a0, a1
  CHECK a2, -0x000ffffffffffff1
  li a0, 0x0010000000000001
  li a1, 0x0010000000000000
  divu a2, a0, a1
  CHECK a2, 1
  remu a2, a0, a1
  CHECK a2, 1
  li a0, 0x000ffffffffffffe
  li a1, 0x000fffffffffffff
  divu a2, a0, a1
  CHECK a2, 0
  div a2, a1, a0
  CHECK a2, 1
  rem a2, a1, a0
  CHECK a2, 1
  PASS
