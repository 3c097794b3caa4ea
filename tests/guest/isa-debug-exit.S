/*
 * isa-debug-exit: tiny static x86-64 Linux program for the kvmlaunch test
 * guest.  Usage: isa-debug-exit N   (N = decimal 0..255)
 *
 * Writes byte N to I/O port 0xf4, where QEMU's
 *   -device isa-debug-exit,iobase=0xf4,iosize=4
 * makes QEMU exit with status (N << 1) | 1.  Returns 1 if it is still alive
 * afterwards (bad argument, ioperm() failed, or no such device).
 *
 * Why: the Debian cloud kernel has CONFIG_DEVPORT unset (no /dev/port) and
 * busybox has no outb applet, so the guest needs its own port I/O helper.
 *
 * build.sh does NOT assemble this file (no toolchain needed): it writes the
 * resulting 203-byte ELF from a hex string.  This source documents those
 * bytes; to regenerate the code part:
 *   as -o x.o isa-debug-exit.S && objcopy -O binary -j .text x.o x.bin && xxd -p x.bin
 * The ELF header + one PT_LOAD program header (vaddr 0x400000, entry
 * 0x400078) are written by build.sh in front of the code.
 */
	.intel_syntax noprefix
	.text
	.globl _start
_start:
	mov	rsi, [rsp+16]		/* argv[1] */
	test	rsi, rsi
	jz	fail
	xor	ebx, ebx		/* value */
1:	movzx	eax, byte ptr [rsi]
	test	al, al
	jz	2f
	sub	eax, '0'
	cmp	eax, 9
	ja	fail
	imul	ebx, ebx, 10
	add	ebx, eax
	inc	rsi
	jmp	1b
2:	mov	eax, 173		/* SYS_ioperm */
	mov	edi, 0xf4		/* from */
	mov	esi, 4			/* num */
	mov	edx, 1			/* turn_on */
	syscall
	test	eax, eax
	jnz	fail
	mov	eax, ebx
	mov	edx, 0xf4
	out	dx, al			/* QEMU exits here with (al<<1)|1 */
fail:
	mov	eax, 60			/* SYS_exit */
	mov	edi, 1
	syscall
