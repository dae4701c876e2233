// Testbench wrapper of the generated chip (neurochip_top), model-independent.
//
// It plays the host of docs/architecture.md §8 from a stimulus memory and sweeps the
// debug readback port after each image, so no Python runs per cycle: cocotb only
// waits for `images_done` to change once per image (sim/test_neurochip.py).
//
// Plusargs (so one build serves any batch): +stim=FILE ($readmemh, 32-bit words: per
// image a header word n, then n items, bit 15 = EOS, bits 14:0 address), +rb=FILE (the
// readback address list), +stim_count=S, +rb_count=M (their lengths), +images=N, +dump=FILE (per image a line
// "I <image> <cycles>" then one hex word per readback address). STIM_DEPTH and
// RB_DEPTH only size the memories. +finish ends the simulation when all images are
// done (for runs without cocotb; under cocotb the test ends it).
// <cycles> is counted here, independently of the chip's own counters: the cycles
// from the first cycle after `clear` until `done` is first seen high.
`timescale 1ns/1ps
`default_nettype none
module tb_neurochip #(
    parameter integer STIM_DEPTH = 65536,
    parameter integer RB_DEPTH = 65536
) (
    // the only signals cocotb reads; public so Verilator need not make everything public
    output reg [31:0] images_done /*verilator public_flat_rd*/,
    output reg        finished /*verilator public_flat_rd*/
);
    reg clk = 1'b0;
    always #5 clk = ~clk;

    reg [31:0] stim [0:STIM_DEPTH-1];
    reg [31:0] rb   [0:RB_DEPTH-1];
    reg [8*1024-1:0] stim_file, rb_file, dump_file;
    integer images_total = 0;
    integer rb_count = 0;
    integer stim_count = 0;
    integer fd;
    initial begin
        if (!$value$plusargs("stim=%s", stim_file)) stim_file = "stimulus.hex";
        if (!$value$plusargs("rb=%s", rb_file)) rb_file = "readback.hex";
        if (!$value$plusargs("dump=%s", dump_file)) dump_file = "dump.txt";
        if (!$value$plusargs("images=%d", images_total)) images_total = 0;
        if (!$value$plusargs("rb_count=%d", rb_count)) rb_count = 0;
        if (!$value$plusargs("stim_count=%d", stim_count)) stim_count = 1;
        $readmemh(stim_file, stim, 0, stim_count - 1);
        $readmemh(rb_file, rb, 0, rb_count - 1);
        fd = $fopen(dump_file, "w");
        images_done = 32'd0;
        finished = 1'b0;
    end

    localparam [2:0] S_RESET = 3'd0, S_START = 3'd1, S_CLEAR = 3'd2, S_RUN = 3'd3,
                     S_READ = 3'd4, S_NEXT = 3'd5, S_END = 3'd6;
    reg [2:0]  state = S_RESET;
    reg [3:0]  rst_count = 4'd0;
    reg        rst = 1'b1;
    reg        clear = 1'b0;
    reg [31:0] ptr = 32'd0;      // next stimulus word
    reg [31:0] remaining = 32'd0;
    reg [31:0] cycles = 32'd0;
    reg [31:0] rb_index = 32'd0;
    reg        rb_pending = 1'b0;
    reg [31:0] image = 32'd0;

    wire        in_valid = (state == S_RUN) && (remaining != 32'd0);
    wire [15:0] in_data = in_valid ? stim[ptr][15:0] : 16'd0;
    wire        in_ready;
    wire        done;
    wire [31:0] dbg_addr = (state == S_READ && rb_index < rb_count) ? rb[rb_index] : 32'd0;
    wire [31:0] dbg_data;

    neurochip_top dut (
        .clk(clk), .rst(rst), .clear(clear),
        .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
        .done(done), .prediction(), .counts(),
        .dbg_addr(dbg_addr), .dbg_data(dbg_data)
    );

    always @(posedge clk) begin
        case (state)
            S_RESET: begin
                rst_count <= rst_count + 4'd1;
                if (rst_count == 4'd3) begin
                    rst <= 1'b0;
                    state <= (images_total == 0) ? S_END : S_START;
                end
            end
            S_START: begin          // load the image header, raise clear for one cycle
                remaining <= stim[ptr];
                ptr <= ptr + 32'd1;
                clear <= 1'b1;
                state <= S_CLEAR;
            end
            S_CLEAR: begin          // this cycle is the clear cycle; cycle 0 follows
                clear <= 1'b0;
                cycles <= 32'd0;
                state <= S_RUN;
            end
            S_RUN: begin
                if (in_valid && in_ready) begin
                    ptr <= ptr + 32'd1;
                    remaining <= remaining - 32'd1;
                end
                if (!done) begin
                    cycles <= cycles + 32'd1;
                end else begin
                    $fwrite(fd, "I %0d %0d\n", image, cycles);
                    rb_index <= 32'd0;
                    rb_pending <= 1'b0;
                    state <= S_READ;
                end
            end
            S_READ: begin           // address in cycle c, data in cycle c+1
                if (rb_pending) $fwrite(fd, "%h\n", dbg_data);
                if (rb_index < rb_count) begin
                    rb_index <= rb_index + 32'd1;
                    rb_pending <= 1'b1;
                end else begin
                    rb_pending <= 1'b0;
                    state <= S_NEXT;
                end
            end
            S_NEXT: begin
                $fflush(fd);
                images_done <= images_done + 32'd1;
                image <= image + 32'd1;
                if (image + 32'd1 == images_total) state <= S_END;
                else state <= S_START;
            end
            default: begin
                if (!finished) begin
                    $fclose(fd);
                    finished <= 1'b1;
                    if ($test$plusargs("finish")) $finish;  // standalone runs without cocotb
                end
            end
        endcase
    end
endmodule
`default_nettype wire
