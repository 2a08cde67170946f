# Loads and stores of every width, sign/zero extension, misaligned and page-crossing accesses.
main:
  la s0, buf
  li a0, 0x8182838485868788
  sd a0, 0(s0)
  lb a1, 0(s0)
  CHECK a1, 0xffffffffffffff88
  lbu a1, 0(s0)
  CHECK a1, 0x88
  lh a1, 0(s0)
  CHECK a1, 0xffffffffffff8788
  lhu a1, 0(s0)
  CHECK a1, 0x8788
  lw a1, 0(s0)
  CHECK a1, 0xffffffff85868788
  lwu a1, 0(s0)
  CHECK a1, 0x85868788
  ld a1, 0(s0)
  CHECK a1, 0x8182838485868788
  lb a1, 7(s0)
  CHECK a1, 0xffffffffffffff81
  # stores of each width
  li a0, 0x1122334455667788
  sb a0, 8(s0)
  sh a0, 10(s0)
  sw a0, 12(s0)
  ld a1, 8(s0)
  CHECK a1, 0x5566778877880088
  # misaligned accesses are emulated (as QEMU does)
  li a0, 0x0102030405060708
  sd a0, 17(s0)
  ld a1, 17(s0)
  CHECK a1, 0x0102030405060708
  lw a1, 19(s0)
  CHECK a1, 0x03040506
  lh a1, 21(s0)
  CHECK a1, 0x0304
  # page crossing
  la s1, page_end
  li a0, 0xa1a2a3a4a5a6a7a8
  sd a0, -3(s1)
  ld a1, -3(s1)
  CHECK a1, 0xa1a2a3a4a5a6a7a8
  lbu a1, -3(s1)
  CHECK a1, 0xa8
  lbu a1, 4(s1)
  CHECK a1, 0xa1
  lw a1, -2(s1)
  CHECK a1, 0xffffffffa4a5a6a7
  # negative offsets and address arithmetic across the 32-bit boundary of the low half
  addi s2, s0, 2047
  lbu a1, -2047(s2)
  CHECK a1, 0x88
  # self-modifying code: patch an addi immediate, then fence.i
  la s3, smc
  lw a0, 0(s3)
  li a1, 0xfff00513     # addi a0, zero, -1
  sw a1, 0(s3)
  fence.i
.option push
.option norvc
smc:
  addi a0, zero, 5
.option pop
  CHECK a0, -1
  PASS
.data
.align 4
buf: .zero 64
.align 12
.zero 4096
page_end:
.zero 64
