<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>MainWindow</name>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>Quit</source>
        <translation>退出</translation>
    </message>
    <message>
        <source>&amp;Language</source>
        <translation>语言(&amp;L)</translation>
    </message>
    <message>
        <source>System default</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>Language</source>
        <translation>语言</translation>
    </message>
    <message>
        <source>The studio will use {name} the next time it starts.</source>
        <translation>下次启动时，ftstudio 将使用{name}。</translation>
    </message>
</context>
<context>
    <name>ParamPanel</name>
    <message>
        <source>{label}:</source>
        <translation>{label}：</translation>
    </message>
</context>
</TS>
